package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/alecthomas/kong"
)

// fileEnv lets every flag that has an environment variable also come from a file:
// LUFFY_GATEWAY_SECRET_FILE=/run/secrets/gateway reads the flag LUFFY_GATEWAY_SECRET
// would set from that file (one trailing newline dropped), the way Docker and Kubernetes
// hand secrets to a process without putting them in its environment or command line.
// A flag given on the command line wins; the variable and its _FILE twin together are an
// error, since one of them would be silently ignored.
var fileEnv = kong.ResolverFunc(func(_ *kong.Context, _ *kong.Path, flag *kong.Flag) (any, error) {
	for _, env := range flag.Envs {
		path := os.Getenv(env + "_FILE")
		if path == "" {
			continue
		}
		if _, set := os.LookupEnv(env); set {
			return nil, fmt.Errorf("both %s and %s_FILE are set; keep one", env, env)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s_FILE: %w", env, err)
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
	}
	return nil, nil
})
