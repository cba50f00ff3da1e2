# The judge's sandbox image, for sites that build images in CI and pull them from a
# registry. Without a registry, `luffy judge image` builds the same image locally
# (debootstrap + Docker API import); its package list is judge/sandbox.DefaultRecipe,
# which a test keeps equal to the list below.
#
#   docker build -f deploy/judge.Dockerfile -t registry.example.com/luffy-judge:1 .
#   luffy judge --image registry.example.com/luffy-judge:1
FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc g++ libc6-dev python3 openjdk-17-jdk-headless golang-go nodejs \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man /usr/share/locale

# luffy-runner runs as PID 1 of every sandbox and runs the tests (see runner.c).
COPY judge/sandbox/runner/runner.c /tmp/runner.c
RUN gcc -static -O2 -o /usr/local/bin/luffy-runner /tmp/runner.c \
 && rm /tmp/runner.c \
 && echo 'judge:x:10000:10000:judge:/work:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'judge:x:10000:' >> /etc/group

USER 10000:10000
WORKDIR /work
ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8
CMD ["/usr/local/bin/luffy-runner"]
