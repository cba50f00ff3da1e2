package main

// The deploy tests hold deploy/ (docker-compose, the Kubernetes manifests, the
// Dockerfiles, the Prometheus rules and the Grafana dashboard) to what luffy really has:
// subcommands, flags, environment variables, listen ports, ops paths and metric names are
// read from the code (the kong model of cli, the Go sources), never from a list kept by
// hand. They need nothing running: `go test ./cmd/luffy -run Deploy`.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"go.yaml.in/yaml/v3"
)

// deployServers says where each long-running subcommand's HTTP server routes its
// requests: the ops paths it serves (/healthz, /readyz, /metrics) are read from there.
var deployServers = map[string][]string{
	"origin":     {"origin"},
	"edge":       {"edge"},
	"judge work": {"cmd/luffy/judge.go"},
	"paysim":     {"paysim"},
}

// deployProbePaths are the paths a probe, a healthcheck or a scrape may use.
var deployProbePaths = []string{"/healthz", "/readyz", "/metrics"}

// ---- what the code has ----------------------------------------------------------------

// deployCmd is one runnable `luffy` subcommand as the CLI parses it.
type deployCmd struct {
	path   string // "origin", "judge work"
	node   *kong.Node
	flags  map[string]*kong.Flag // by long name (and --no- negation), globals included
	envs   map[string]*kong.Flag // by environment variable
	shorts map[rune]*kong.Flag
	serves map[string]bool // HTTP paths its server routes
}

type deployCode struct {
	root    string
	cli     *kong.Node
	cmds    map[string]*deployCmd
	metrics map[string]bool // metric names the Go code declares
	goProc  bool            // the Go and process collectors are registered somewhere
	anchors map[string]bool // heading anchors of deploy/README.md
}

var deployCodeCache *deployCode

func deployLoad(t *testing.T) *deployCode {
	t.Helper()
	if deployCodeCache != nil {
		return deployCodeCache
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	k, err := kong.New(&cli{}, kong.Name("luffy"), kong.Vars{"pg_url": "x"})
	if err != nil {
		t.Fatalf("build the luffy CLI model: %v", err)
	}
	c := &deployCode{root: root, cli: k.Model.Node, cmds: map[string]*deployCmd{}}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, ch := range n.Children {
			if ch.Type != kong.CommandNode {
				continue
			}
			cmd := &deployCmd{path: ch.FullPath()[len("luffy "):], node: ch,
				flags: map[string]*kong.Flag{}, envs: map[string]*kong.Flag{}, shorts: map[rune]*kong.Flag{}, serves: map[string]bool{}}
			for _, group := range ch.AllFlags(false) {
				for _, f := range group {
					cmd.addFlag(f)
				}
			}
			c.cmds[cmd.path] = cmd
			walk(ch)
		}
	}
	walk(c.cli)
	for path, srcs := range deployServers {
		cmd := c.cmds[path]
		if cmd == nil {
			t.Fatalf("deployServers names `luffy %s`, which the CLI does not have", path)
		}
		for _, src := range srcs {
			for p := range deployServedPaths(t, filepath.Join(root, src)) {
				cmd.serves[p] = true
			}
		}
		if len(cmd.serves) == 0 {
			t.Fatalf("found no served paths for `luffy %s` in %v", path, srcs)
		}
	}
	c.metrics, c.goProc = deployDeclaredMetrics(t, root)
	// The runbook: TestDeployAlerts reports each alert without a section, all of them
	// when the file is missing.
	b, _ := os.ReadFile(filepath.Join(root, "deploy/README.md"))
	c.anchors = map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "#"); ok {
			c.anchors[deployAnchor(strings.TrimLeft(h, "#"))] = true
		}
	}
	deployCodeCache = c
	return c
}

func (cmd *deployCmd) addFlag(f *kong.Flag) {
	cmd.flags[f.Name] = f
	for _, a := range f.Aliases {
		cmd.flags[a] = f
	}
	if f.Tag != nil {
		switch neg := f.Tag.Negatable; neg {
		case "":
		case "_":
			cmd.flags["no-"+f.Name] = f
		default:
			cmd.flags[neg] = f
		}
	}
	for _, e := range f.Envs {
		cmd.envs[e] = f
	}
	if f.Short != 0 {
		cmd.shorts[f.Short] = f
	}
}

// deployServedRE finds the paths a handler routes: `case "/metrics":`,
// `mux.HandleFunc("/healthz", ...)`, `mux.HandleFunc("GET /healthz", ...)`.
var deployServedRE = regexp.MustCompile(`(?:case\s+|Handle(?:Func)?\(\s*)"(?:[A-Z]+ )?(/[a-z0-9/_-]*)"`)

func deployServedPaths(t *testing.T, src string) map[string]bool {
	t.Helper()
	files := []string{src}
	if st, err := os.Stat(src); err != nil {
		t.Fatal(err)
	} else if st.IsDir() {
		files, _ = filepath.Glob(filepath.Join(src, "*.go"))
	}
	out := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range deployServedRE.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = true
		}
	}
	return out
}

var (
	deployMetricLitRE = regexp.MustCompile(`"(luffy_[a-z0-9_]*)"`)
	deployWordLitRE   = regexp.MustCompile(`"([a-z][a-z0-9_]*)"`)
)

// deployDeclaredMetrics reads the metric names the Go code declares: whole literals
// ("luffy_http_requests_total") and names built from a prefix literal ("luffy_edge_" +
// name) with a word literal of the same file ("cache_hits_total").
func deployDeclaredMetrics(t *testing.T, root string) (map[string]bool, bool) {
	t.Helper()
	names := map[string]bool{}
	goProc := false
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".data", "bin", "testdata", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		src := string(b)
		if strings.Contains(src, "collectors.NewGoCollector(") && strings.Contains(src, "collectors.NewProcessCollector(") {
			goProc = true
		}
		var prefixes []string
		for _, m := range deployMetricLitRE.FindAllStringSubmatch(src, -1) {
			if strings.HasSuffix(m[1], "_") {
				prefixes = append(prefixes, m[1])
			} else {
				names[m[1]] = true
			}
		}
		if len(prefixes) > 0 {
			for _, w := range deployWordLitRE.FindAllStringSubmatch(src, -1) {
				for _, p := range prefixes {
					names[p+w[1]] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names, goProc
}

// ---- checking one luffy container ------------------------------------------------------

// deployContainer is a container (compose service or Kubernetes container) that runs the
// luffy image, as the manifest writes it.
type deployContainer struct {
	where string            // file and object, for messages
	args  []string          // the arguments to luffy
	env   map[string]string // explicit environment, value "" when it comes from a secret
	ports []int             // ports it declares
}

// resolve finds the subcommand args name and returns it with the remaining args.
func (c *deployCode) resolve(args []string) (*deployCmd, []string, error) {
	n, i := c.cli, 0
	for ; i < len(args) && !strings.HasPrefix(args[i], "-"); i++ {
		var next *kong.Node
		for _, ch := range n.Children {
			if ch.Type == kong.CommandNode && (ch.Name == args[i] || slices.Contains(ch.Aliases, args[i])) {
				next = ch
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	if n == c.cli {
		if len(args) == 0 {
			return nil, nil, errors.New("no luffy subcommand given (args are empty)")
		}
		return nil, nil, fmt.Errorf("%q is not a luffy subcommand", args[0])
	}
	for len(n.Children) > 0 {
		if n.DefaultCmd == nil {
			return nil, nil, fmt.Errorf("`luffy %s` needs a subcommand", n.FullPath()[len("luffy "):])
		}
		n = n.DefaultCmd
	}
	return c.cmds[n.FullPath()[len("luffy "):]], args[i:], nil
}

// deployListen is the address a command's main server listens on, as set in a container.
type deployListen struct {
	set  bool
	host string
	port int
}

// check reports everything in c that luffy does not have, and returns the subcommand
// and its listen address.
func (code *deployCode) check(t *testing.T, c deployContainer) (*deployCmd, deployListen) {
	t.Helper()
	cmd, rest, err := code.resolve(c.args)
	if err != nil {
		t.Errorf("%s: %v", c.where, err)
		return nil, deployListen{}
	}
	values := map[string]string{} // flag name -> value set by args
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		var f *kong.Flag
		var name, val string
		hasVal := false
		switch {
		case a == "--":
			j = len(rest)
			continue
		case strings.HasPrefix(a, "--"):
			name, val, hasVal = strings.Cut(a[2:], "=")
			f = cmd.flags[name]
			if f == nil {
				t.Errorf("%s: --%s is not a flag of `luffy %s` (nor a global flag)", c.where, name, cmd.path)
				if !hasVal && j+1 < len(rest) && !strings.HasPrefix(rest[j+1], "-") {
					j++ // its value, most likely
				}
				continue
			}
		case strings.HasPrefix(a, "-") && len(a) == 2:
			f = cmd.shorts[rune(a[1])]
			if f == nil {
				t.Errorf("%s: %s is not a flag of `luffy %s`", c.where, a, cmd.path)
				continue
			}
		default:
			if len(cmd.node.Positional) == 0 {
				t.Errorf("%s: `luffy %s` takes no argument %q", c.where, cmd.path, a)
			}
			continue
		}
		if !hasVal && !f.IsBool() && !f.IsCounter() {
			if j+1 >= len(rest) {
				t.Errorf("%s: --%s has no value", c.where, f.Name)
				continue
			}
			j++
			val = rest[j]
		}
		values[f.Name] = val
	}
	for name := range c.env {
		if !strings.HasPrefix(name, "LUFFY_") {
			continue
		}
		f := cmd.envs[name]
		if f == nil {
			t.Errorf("%s: environment variable %s is not read by `luffy %s` (nor a global)", c.where, name, cmd.path)
			continue
		}
		if _, ok := values[f.Name]; !ok {
			values[f.Name] = c.env[name]
		}
	}
	var l deployListen
	if cmd.flags["listen"] == nil {
		if len(c.ports) > 0 {
			t.Errorf("%s: declares ports %v but `luffy %s` listens on none", c.where, c.ports, cmd.path)
		}
		return cmd, l
	}
	v, ok := values["listen"]
	if !ok {
		t.Errorf("%s: `luffy %s` listens on its default (loopback) address: set --listen or %s to 0.0.0.0:PORT in the same manifest",
			c.where, cmd.path, strings.Join(cmd.flags["listen"].Envs, "/"))
		return cmd, l
	}
	host, port, err := net.SplitHostPort(v)
	p, perr := strconv.Atoi(port)
	if err != nil || perr != nil {
		t.Errorf("%s: listen address %q is not HOST:PORT", c.where, v)
		return cmd, l
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		t.Errorf("%s: listens on %s: unreachable from outside the container; use 0.0.0.0:%d", c.where, v, p)
	}
	l = deployListen{set: true, host: host, port: p}
	for _, declared := range c.ports {
		if declared != p {
			t.Errorf("%s: declares port %d but `luffy %s` listens on %s", c.where, declared, cmd.path, v)
		}
	}
	return cmd, l
}

// checkPath reports a probe or scrape path the command does not serve.
func (code *deployCode) checkPath(t *testing.T, where string, cmd *deployCmd, path string) {
	t.Helper()
	if !slices.Contains(deployProbePaths, path) {
		t.Errorf("%s: probe path %q is none of %v", where, path, deployProbePaths)
		return
	}
	if !cmd.serves[path] {
		t.Errorf("%s: `luffy %s` does not serve %s (it serves %v)", where, cmd.path, path, deploySortedKeys(cmd.serves))
	}
}

// ---- docker-compose ---------------------------------------------------------------------

func TestDeployCompose(t *testing.T) {
	code := deployLoad(t)
	files := deployFiles(t, code.root, "deploy/compose", ".yml", ".yaml")
	found := false
	for _, file := range files {
		doc := deployYAML(t, file)[0]
		services, ok := doc["services"].(map[string]any)
		if !ok {
			continue
		}
		found = true
		deployCheckCompose(t, code, file, services)
	}
	if !found {
		t.Fatal("no docker-compose file (a YAML file with services:) under deploy/compose")
	}
}

type deployComposeService struct {
	cmd    *deployCmd
	listen deployListen
}

func deployCheckCompose(t *testing.T, code *deployCode, file string, services map[string]any) {
	dir := filepath.Dir(file)
	rel := code.rel(file)
	luffy := map[string]deployComposeService{}
	mounts := map[string]map[string]string{} // service -> target -> host source
	for _, name := range deploySortedKeys(services) {
		svc, _ := services[name].(map[string]any)
		where := fmt.Sprintf("%s: service %s", rel, name)
		mounts[name] = map[string]string{}
		for _, v := range deployList(svc["volumes"]) {
			src, dst := deployComposeMount(v)
			if src == "" || !(strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/")) {
				continue // a named volume
			}
			if strings.HasPrefix(src, ".") {
				src = filepath.Join(dir, src)
				if _, err := os.Stat(src); err != nil {
					t.Errorf("%s: bind-mount source %s does not exist", where, code.rel(src))
				}
			}
			mounts[name][dst] = src
		}
		isLuffy := false
		if b, ok := svc["build"].(map[string]any); ok {
			ctx := filepath.Join(dir, deployStr(b["context"]))
			df := filepath.Join(ctx, deployStr(b["dockerfile"]))
			if _, err := os.Stat(df); err != nil {
				t.Errorf("%s: build dockerfile %s does not exist", where, code.rel(df))
			} else if filepath.Base(df) == "luffy.Dockerfile" {
				isLuffy = true
				if ep := deployDockerEntrypoint(t, df); len(ep) == 0 || filepath.Base(ep[0]) != "luffy" {
					t.Errorf("%s: %s's ENTRYPOINT is %v, not luffy: the service's command would not be luffy's args", where, code.rel(df), ep)
				}
			}
		}
		if deployIsLuffyImage(deployStr(svc["image"])) {
			isLuffy = true
		}
		if !isLuffy {
			continue
		}
		if ep := svc["entrypoint"]; ep != nil {
			t.Errorf("%s: runs the luffy image with entrypoint %v; give the subcommand in command", where, ep)
		}
		c := deployContainer{where: where, args: deployArgs(svc["command"]), env: deployComposeEnv(svc["environment"])}
		for _, p := range deployList(svc["ports"]) {
			c.ports = append(c.ports, deployComposePort(t, where, p))
		}
		for _, p := range deployList(svc["expose"]) {
			c.ports = append(c.ports, deployComposePort(t, where, p))
		}
		cmd, l := code.check(t, c)
		if cmd == nil {
			continue
		}
		luffy[name] = deployComposeService{cmd, l}
		if hc, ok := svc["healthcheck"].(map[string]any); ok {
			test := strings.Join(deployArgs(hc["test"]), " ")
			for _, m := range regexp.MustCompile(`/dev/tcp/[^/\s]+/(\d+)`).FindAllStringSubmatch(test, -1) {
				if p, _ := strconv.Atoi(m[1]); !l.set || p != l.port {
					t.Errorf("%s: healthcheck connects to port %s but `luffy %s` listens on %d", where, m[1], cmd.path, l.port)
				}
			}
			for _, m := range regexp.MustCompile(`(?:GET |https?://[^/\s]+)(/[^\s'"\\]*)`).FindAllStringSubmatch(test, -1) {
				code.checkPath(t, where+" healthcheck", cmd, m[1])
			}
		}
	}
	// Prometheus and Grafana configs the services mount: their targets are services of
	// this file, their files are mounted where they say.
	scraped := map[string]bool{}
	for _, name := range deploySortedKeys(mounts) {
		for _, dst := range deploySortedKeys(mounts[name]) {
			src := mounts[name][dst]
			for _, f := range deployYAMLFilesAt(src) {
				for _, doc := range deployYAML(t, f) {
					if sc, ok := doc["scrape_configs"]; ok {
						deployCheckPrometheus(t, code, f, doc, sc, services, luffy, mounts[name], scraped)
					}
					if provs, ok := doc["providers"]; ok {
						for _, p := range deployList(provs) {
							path := deployStr(deployGet(p, "options", "path"))
							src, ok := mounts[name][path]
							jsons, _ := filepath.Glob(filepath.Join(src, "*.json"))
							if !ok || len(jsons) == 0 {
								t.Errorf("%s: dashboards path %s is not a mounted directory of dashboards in service %s", code.rel(f), path, name)
							}
						}
					}
					for _, ds := range deployList(doc["datasources"]) {
						u := deployStr(deployGet(ds, "url"))
						host := strings.Split(strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://"), ":")[0]
						if _, ok := services[host]; !ok {
							t.Errorf("%s: datasource url %s names no service of %s", code.rel(f), u, rel)
						}
					}
				}
			}
		}
	}
	for _, name := range deploySortedKeys(luffy) {
		if s := luffy[name]; s.cmd.serves["/metrics"] && !scraped[name] {
			t.Errorf("%s: service %s (`luffy %s`) serves /metrics but no Prometheus scrape config names it", rel, name, s.cmd.path)
		}
	}
}

func deployCheckPrometheus(t *testing.T, code *deployCode, file string, doc map[string]any, scrapeConfigs any,
	services map[string]any, luffy map[string]deployComposeService, mounts map[string]string, scraped map[string]bool) {
	rel := code.rel(file)
	for _, rf := range deployList(doc["rule_files"]) {
		if _, ok := mounts[deployStr(rf)]; !ok {
			t.Errorf("%s: rule file %s is not mounted into the Prometheus service", rel, rf)
		}
	}
	for _, sc := range deployList(scrapeConfigs) {
		job := deployStr(deployGet(sc, "job_name"))
		path := deployStr(deployGet(sc, "metrics_path"))
		for _, st := range deployList(deployGet(sc, "static_configs")) {
			for _, target := range deployList(deployGet(st, "targets")) {
				host, port, err := net.SplitHostPort(deployStr(target))
				if err != nil {
					t.Errorf("%s: job %s: target %v is not HOST:PORT", rel, job, target)
					continue
				}
				if host == "localhost" {
					continue
				}
				if _, ok := services[host]; !ok {
					t.Errorf("%s: job %s: target %s is no service of the compose file", rel, job, target)
					continue
				}
				s, ok := luffy[host]
				if !ok {
					continue
				}
				scraped[host] = true
				if p, _ := strconv.Atoi(port); p != s.listen.port {
					t.Errorf("%s: job %s: target %s, but `luffy %s` there listens on %d", rel, job, target, s.cmd.path, s.listen.port)
				}
				if path == "" {
					path = "/metrics"
				}
				code.checkPath(t, rel+": job "+job, s.cmd, path)
			}
		}
	}
}

// ---- Kubernetes -------------------------------------------------------------------------

type deployK8sObject struct {
	file  string
	m     map[string]any
	patch bool // from a file a kustomization applies as a patch
}

func (o deployK8sObject) kind() string { return deployStr(o.m["kind"]) }
func (o deployK8sObject) name() string { return deployStr(deployGet(o.m, "metadata", "name")) }
func (o deployK8sObject) where(code *deployCode) string {
	return fmt.Sprintf("%s: %s %s", code.rel(o.file), o.kind(), o.name())
}

// deployPod is a luffy pod template of a workload.
type deployPod struct {
	obj        deployK8sObject
	labels     map[string]any
	containers []deployPodContainer
}

type deployPodContainer struct {
	name   string
	cmd    *deployCmd
	listen deployListen
	ports  map[string]int // containerPort by name ("" for unnamed) and by number
}

func TestDeployKubernetes(t *testing.T) {
	code := deployLoad(t)
	files := deployFiles(t, code.root, "deploy/k8s", ".yml", ".yaml")
	if len(files) == 0 {
		t.Fatal("no manifests under deploy/k8s")
	}
	// Kustomizations first: they say which files are patches.
	patches := map[string]bool{}
	images := map[string]bool{}
	var kustomizations []deployK8sObject
	var objects []deployK8sObject
	for _, f := range files {
		for _, doc := range deployYAML(t, f) {
			if k := deployStr(doc["kind"]); filepath.Base(f) == "kustomization.yaml" || k == "Kustomization" || k == "Component" {
				kustomizations = append(kustomizations, deployK8sObject{file: f, m: doc})
				continue
			}
			objects = append(objects, deployK8sObject{file: f, m: doc})
		}
	}
	if len(kustomizations) == 0 {
		t.Error("no kustomization.yaml under deploy/k8s")
	}
	for _, k := range kustomizations {
		dir := filepath.Dir(k.file)
		rel := code.rel(k.file)
		for _, field := range []string{"resources", "components", "bases"} {
			for _, r := range deployList(k.m[field]) {
				p := filepath.Join(dir, deployStr(r))
				st, err := os.Stat(p)
				switch {
				case err != nil:
					t.Errorf("%s: %s entry %s does not exist", rel, field, r)
				case st.IsDir():
					if _, err := os.Stat(filepath.Join(p, "kustomization.yaml")); err != nil {
						t.Errorf("%s: %s entry %s is a directory without kustomization.yaml", rel, field, r)
					}
				}
			}
		}
		var patchPaths []string
		for _, p := range deployList(k.m["patches"]) {
			if path := deployStr(deployGet(p, "path")); path != "" {
				patchPaths = append(patchPaths, path)
			} else if deployGet(p, "patch") == nil {
				t.Errorf("%s: a patch with neither path nor patch", rel)
			}
		}
		for _, p := range deployList(k.m["patchesStrategicMerge"]) {
			patchPaths = append(patchPaths, deployStr(p))
		}
		for _, p := range patchPaths {
			full := filepath.Join(dir, p)
			if _, err := os.Stat(full); err != nil {
				t.Errorf("%s: patch %s does not exist", rel, p)
			}
			patches[full] = true
		}
		for _, im := range deployList(k.m["images"]) {
			images[deployStr(deployGet(im, "name"))] = true
		}
	}
	for i := range objects {
		objects[i].patch = patches[objects[i].file]
	}

	// Secrets and ConfigMaps the manifests define (CloudNativePG makes <cluster>-app).
	secrets := map[string]map[string]bool{}
	configMaps := map[string]map[string]string{}
	for _, o := range objects {
		switch o.kind() {
		case "Secret":
			if o.patch {
				continue // a patch adds no Secret (the production overlay deletes one)
			}
			keys := map[string]bool{}
			for _, f := range []string{"data", "stringData"} {
				for key := range deployMap(o.m[f]) {
					keys[key] = true
				}
			}
			secrets[o.name()] = keys
		case "Cluster":
			if strings.HasPrefix(deployStr(o.m["apiVersion"]), "postgresql.cnpg.io/") {
				secrets[o.name()+"-app"] = map[string]bool{"username": true, "password": true, "host": true, "port": true,
					"dbname": true, "uri": true, "jdbc-uri": true, "pgpass": true}
			}
		case "ConfigMap":
			if configMaps[o.name()] == nil {
				configMaps[o.name()] = map[string]string{}
			}
			for key, v := range deployMap(o.m["data"]) {
				configMaps[o.name()][key] = deployStr(v)
			}
		}
	}

	// The luffy containers.
	var pods []deployPod
	byName := map[string]*deployCmd{} // container name -> command, for patches
	consumers := map[string][]*deployCmd{}
	usedImages := map[string]bool{}
	type patchContainer struct {
		obj deployK8sObject
		c   map[string]any
	}
	var patchContainers []patchContainer
	for _, o := range objects {
		tmpl := deployPodTemplate(o.m)
		if tmpl == nil {
			continue
		}
		spec := deployMap(tmpl["spec"])
		pod := deployPod{obj: o, labels: deployMap(deployGet(tmpl, "metadata", "labels"))}
		for _, field := range []string{"initContainers", "containers"} {
			for _, ci := range deployList(spec[field]) {
				c := deployMap(ci)
				image := deployStr(c["image"])
				if image != "" {
					usedImages[deployImageName(image)] = true
				}
				if o.patch || image == "" {
					patchContainers = append(patchContainers, patchContainer{o, c})
					continue
				}
				if !deployIsLuffyImage(image) {
					continue
				}
				pc := deployK8sContainer(t, code, o, c, secrets, configMaps)
				if pc.cmd == nil {
					continue
				}
				byName[pc.name] = pc.cmd
				for _, ef := range deployList(c["envFrom"]) {
					if n := deployStr(deployGet(ef, "configMapRef", "name")); n != "" {
						consumers[n] = append(consumers[n], pc.cmd)
					}
				}
				pod.containers = append(pod.containers, pc)
			}
		}
		if len(pod.containers) > 0 {
			pods = append(pods, pod)
			deployCheckAnnotations(t, code, pod, deployMap(deployGet(tmpl, "metadata", "annotations")))
		}
	}
	if len(pods) == 0 {
		t.Fatal("no workload under deploy/k8s runs the luffy image")
	}
	for _, pc := range patchContainers {
		name := deployStr(pc.c["name"])
		where := fmt.Sprintf("%s, container %s", pc.obj.where(code), name)
		cmd := byName[name]
		if cmd == nil {
			for _, e := range deployList(pc.c["env"]) {
				if strings.HasPrefix(deployStr(deployGet(e, "name")), "LUFFY_") {
					t.Errorf("%s: sets LUFFY_ variables on a container that is not a luffy container of the manifests", where)
					break
				}
			}
			continue
		}
		for _, e := range deployList(pc.c["env"]) {
			if n := deployStr(deployGet(e, "name")); strings.HasPrefix(n, "LUFFY_") && cmd.envs[n] == nil {
				t.Errorf("%s: environment variable %s is not read by `luffy %s` (nor a global)", where, n, cmd.path)
			}
			deployCheckValueFrom(t, where, e, secrets, configMaps)
		}
	}
	for name := range images {
		if !usedImages[name] {
			t.Errorf("deploy/k8s: a kustomization rewrites image %q, which no container uses", name)
		}
	}
	// Every LUFFY_ key of a ConfigMap is read by every luffy container that loads it.
	for _, name := range deploySortedKeys(configMaps) {
		for _, key := range deploySortedKeys(configMaps[name]) {
			if !strings.HasPrefix(key, "LUFFY_") {
				continue
			}
			if len(consumers[name]) == 0 {
				t.Errorf("deploy/k8s: ConfigMap %s sets %s but no luffy container loads it (envFrom)", name, key)
				continue
			}
			for _, cmd := range consumers[name] {
				if cmd.envs[key] == nil {
					t.Errorf("deploy/k8s: ConfigMap %s: %s is not read by `luffy %s`, which loads it", name, key, cmd.path)
				}
			}
		}
	}
	for _, k := range kustomizations {
		for _, r := range deployList(k.m["replicas"]) {
			n := deployStr(deployGet(r, "name"))
			if !slices.ContainsFunc(objects, func(o deployK8sObject) bool { return !o.patch && o.name() == n && deployPodTemplate(o.m) != nil }) {
				t.Errorf("%s: replicas names %s, which is no workload", code.rel(k.file), n)
			}
		}
	}
	// Services, NetworkPolicies and PodMonitors that select luffy pods use their ports.
	judgePolicies := 0
	for _, o := range objects {
		if o.patch {
			continue
		}
		switch o.kind() {
		case "Service":
			sel := deployMap(deployGet(o.m, "spec", "selector"))
			matched := deployMatch(pods, sel)
			if len(matched) == 0 {
				continue
			}
			for _, p := range deployList(deployGet(o.m, "spec", "ports")) {
				target := deployGet(p, "targetPort")
				if target == nil {
					target = deployGet(p, "port")
				}
				deployCheckPortRef(t, o.where(code)+" targetPort", matched, target)
			}
		case "NetworkPolicy":
			selected := deployMatch(pods, deployMap(deployGet(o.m, "spec", "podSelector", "matchLabels")))
			for _, rule := range deployList(deployGet(o.m, "spec", "ingress")) {
				for _, p := range deployList(deployGet(rule, "ports")) {
					deployCheckPortRef(t, o.where(code)+" ingress port", selected, deployGet(p, "port"))
				}
			}
			judge := slices.ContainsFunc(selected, func(p deployPod) bool {
				return slices.ContainsFunc(p.containers, func(c deployPodContainer) bool { return c.cmd.path == "judge work" })
			})
			types := deployList(deployGet(o.m, "spec", "policyTypes"))
			if judge && slices.Contains(types, any("Egress")) {
				judgePolicies++
			}
			for _, rule := range deployList(deployGet(o.m, "spec", "egress")) {
				to := deployList(deployGet(rule, "to"))
				if judge && len(to) == 0 {
					t.Errorf("%s: an egress rule of the judge with no destinations lets it reach anything", o.where(code))
				}
				for _, peer := range to {
					if judge && deployGet(peer, "ipBlock") != nil {
						t.Errorf("%s: the judge may reach an ipBlock; it should reach only Postgres, MinIO and DNS", o.where(code))
					}
					if deployGet(peer, "namespaceSelector") != nil {
						continue
					}
					targets := deployMatch(pods, deployMap(deployGet(peer, "podSelector", "matchLabels")))
					for _, p := range deployList(deployGet(rule, "ports")) {
						deployCheckPortRef(t, o.where(code)+" egress port", targets, deployGet(p, "port"))
					}
				}
			}
		case "PodMonitor":
			matched := deployMatch(pods, deployMap(deployGet(o.m, "spec", "selector", "matchLabels")))
			if len(matched) == 0 {
				t.Errorf("%s: selects no luffy pod", o.where(code))
			}
			for _, ep := range deployList(deployGet(o.m, "spec", "podMetricsEndpoints")) {
				deployCheckPortRef(t, o.where(code)+" port", matched, deployGet(ep, "port"))
				path := deployStr(deployGet(ep, "path"))
				if path == "" {
					path = "/metrics"
				}
				for _, p := range matched {
					for _, c := range p.containers {
						code.checkPath(t, o.where(code), c.cmd, path)
					}
				}
			}
		}
	}
	if judgePolicies == 0 {
		t.Error("deploy/k8s: no NetworkPolicy restricts the judge's egress")
	}
}

// deployK8sContainer checks one full luffy container of a workload.
func deployK8sContainer(t *testing.T, code *deployCode, o deployK8sObject, c map[string]any,
	secrets map[string]map[string]bool, configMaps map[string]map[string]string) deployPodContainer {
	name := deployStr(c["name"])
	where := fmt.Sprintf("%s, container %s", o.where(code), name)
	args := deployArgs(c["args"])
	if command := deployArgs(c["command"]); len(command) > 0 {
		if filepath.Base(command[0]) != "luffy" {
			t.Errorf("%s: command %v replaces the image's luffy entrypoint", where, command)
		}
		args = append(command[1:], args...)
	}
	env := map[string]string{}
	for _, e := range deployList(c["env"]) {
		env[deployStr(deployGet(e, "name"))] = deployStr(deployGet(e, "value"))
		deployCheckValueFrom(t, where, e, secrets, configMaps)
	}
	for _, ef := range deployList(c["envFrom"]) {
		if n := deployStr(deployGet(ef, "configMapRef", "name")); n != "" && configMaps[n] == nil {
			t.Errorf("%s: envFrom ConfigMap %s is not in the manifests", where, n)
		}
		if n := deployStr(deployGet(ef, "secretRef", "name")); n != "" && secrets[n] == nil {
			t.Errorf("%s: envFrom Secret %s is not in the manifests nor made by an operator they configure", where, n)
		}
	}
	pc := deployPodContainer{name: name, ports: map[string]int{}}
	dc := deployContainer{where: where, args: args, env: env}
	for _, p := range deployList(c["ports"]) {
		n, _ := deployInt(deployGet(p, "containerPort"))
		dc.ports = append(dc.ports, n)
		pc.ports[strconv.Itoa(n)] = n
		if pn := deployStr(deployGet(p, "name")); pn != "" {
			pc.ports[pn] = n
		}
	}
	pc.cmd, pc.listen = code.check(t, dc)
	if pc.cmd == nil {
		return pc
	}
	for _, probe := range []string{"startupProbe", "readinessProbe", "livenessProbe"} {
		hg := deployGet(c, probe, "httpGet")
		if hg == nil {
			if deployGet(c, probe) != nil {
				t.Errorf("%s: %s is not an httpGet probe on the ops paths", where, probe)
			}
			continue
		}
		port := deployGet(hg, "port")
		n, ok := deployInt(port)
		if !ok {
			n, ok = pc.ports[deployStr(port)]
		}
		if !ok || !pc.listen.set || n != pc.listen.port {
			t.Errorf("%s: %s port %v is not the port `luffy %s` listens on (%d)", where, probe, port, pc.cmd.path, pc.listen.port)
		}
		code.checkPath(t, where+" "+probe, pc.cmd, deployStr(deployGet(hg, "path")))
	}
	return pc
}

func deployCheckValueFrom(t *testing.T, where string, e any, secrets map[string]map[string]bool, configMaps map[string]map[string]string) {
	t.Helper()
	if ref := deployGet(e, "valueFrom", "secretKeyRef"); ref != nil {
		n, key := deployStr(deployGet(ref, "name")), deployStr(deployGet(ref, "key"))
		switch keys, ok := secrets[n]; {
		case !ok:
			t.Errorf("%s: Secret %s is not in the manifests nor made by an operator they configure", where, n)
		case !keys[key]:
			t.Errorf("%s: Secret %s has no key %s", where, n, key)
		}
	}
	if ref := deployGet(e, "valueFrom", "configMapKeyRef"); ref != nil {
		n, key := deployStr(deployGet(ref, "name")), deployStr(deployGet(ref, "key"))
		if _, ok := configMaps[n][key]; !ok {
			t.Errorf("%s: ConfigMap %s has no key %s", where, n, key)
		}
	}
}

func deployCheckAnnotations(t *testing.T, code *deployCode, pod deployPod, ann map[string]any) {
	t.Helper()
	where := pod.obj.where(code)
	if v, ok := ann["prometheus.io/port"]; ok {
		n, _ := strconv.Atoi(deployStr(v))
		if !slices.ContainsFunc(pod.containers, func(c deployPodContainer) bool { return c.listen.set && c.listen.port == n }) {
			t.Errorf("%s: prometheus.io/port %v is no port a luffy container listens on", where, v)
		}
	}
	if v, ok := ann["prometheus.io/path"]; ok {
		for _, c := range pod.containers {
			code.checkPath(t, where+" prometheus.io/path", c.cmd, deployStr(v))
		}
	}
}

// deployCheckPortRef reports a port (number or name) that no container of pods has.
func deployCheckPortRef(t *testing.T, where string, pods []deployPod, port any) {
	t.Helper()
	if len(pods) == 0 || port == nil {
		return
	}
	key := deployStr(port)
	if n, ok := deployInt(port); ok {
		key = strconv.Itoa(n)
	}
	for _, p := range pods {
		for _, c := range p.containers {
			if _, ok := c.ports[key]; ok {
				return
			}
		}
	}
	t.Errorf("%s %v is no port of the luffy pods it selects", where, port)
}

func deployMatch(pods []deployPod, sel map[string]any) []deployPod {
	if len(sel) == 0 {
		return nil
	}
	var out []deployPod
	for _, p := range pods {
		ok := true
		for k, v := range sel {
			if deployStr(p.labels[k]) != deployStr(v) {
				ok = false
			}
		}
		if ok {
			out = append(out, p)
		}
	}
	return out
}

func deployPodTemplate(m map[string]any) map[string]any {
	switch deployStr(m["kind"]) {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		return deployMap(deployGet(m, "spec", "template"))
	case "CronJob":
		return deployMap(deployGet(m, "spec", "jobTemplate", "spec", "template"))
	}
	return nil
}

// ---- Dockerfiles ------------------------------------------------------------------------

// TestDeployDockerfiles checks that what the Dockerfiles under deploy/ COPY from the
// build context (the repository root) exists.
func TestDeployDockerfiles(t *testing.T) {
	code := deployLoad(t)
	var files []string
	filepath.WalkDir(filepath.Join(code.root, "deploy"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(d.Name(), "Dockerfile") {
			files = append(files, path)
		}
		return err
	})
	if len(files) == 0 {
		t.Fatal("no Dockerfile under deploy/")
	}
	for _, f := range files {
		for _, ins := range deployDockerInstructions(t, f) {
			op, rest, _ := strings.Cut(ins, " ")
			if op = strings.ToUpper(op); op != "COPY" && op != "ADD" {
				continue
			}
			var args []string
			if strings.HasPrefix(strings.TrimSpace(rest), "[") {
				if err := json.Unmarshal([]byte(rest), &args); err != nil {
					t.Errorf("%s: %s: %v", code.rel(f), ins, err)
					continue
				}
			} else {
				args = strings.Fields(rest)
			}
			var srcs []string
			fromStage := false
			for _, a := range args {
				if strings.HasPrefix(a, "--") {
					fromStage = fromStage || strings.HasPrefix(a, "--from=")
					continue
				}
				srcs = append(srcs, a)
			}
			if fromStage || len(srcs) < 2 {
				continue
			}
			for _, s := range srcs[:len(srcs)-1] {
				if m, _ := filepath.Glob(filepath.Join(code.root, s)); len(m) == 0 {
					t.Errorf("%s: %s copies %s, which is not in the build context (the repository root)", code.rel(f), op, s)
				}
			}
		}
	}
}

// deployDockerInstructions returns a Dockerfile's instructions, continuation lines joined.
func deployDockerInstructions(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	cur := ""
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur == "") {
			continue
		}
		if s, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur += s + " "
			continue
		}
		cur += trimmed
		out = append(out, cur)
		cur = ""
	}
	return out
}

func deployDockerEntrypoint(t *testing.T, file string) []string {
	var ep []string
	for _, ins := range deployDockerInstructions(t, file) {
		if op, rest, _ := strings.Cut(ins, " "); strings.EqualFold(op, "ENTRYPOINT") {
			ep = nil
			if json.Unmarshal([]byte(rest), &ep) != nil {
				ep = strings.Fields(rest)
			}
		}
	}
	return ep
}

// ---- dashboard and alert rules ----------------------------------------------------------

var deployMetricRefRE = regexp.MustCompile(`\b(?:luffy|process|go)_[a-zA-Z0-9_]+`)

// checkMetrics reports the metric names of a PromQL expression that the code does not
// export.
func (code *deployCode) checkMetrics(t *testing.T, where, expr string) {
	t.Helper()
	for _, name := range deployMetricRefRE.FindAllString(expr, -1) {
		if !strings.HasPrefix(name, "luffy_") {
			if !code.goProc {
				t.Errorf("%s: %s needs the Go and process collectors, which no luffy registry has", where, name)
			}
			continue
		}
		if code.metricDeclared(name) {
			continue
		}
		t.Errorf("%s: metric %s is not declared in the Go code", where, name)
	}
	depth := map[rune]int{}
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	quoted := false
	for _, r := range expr {
		switch {
		case r == '"':
			quoted = !quoted
		case quoted:
		case r == '(' || r == '[' || r == '{':
			depth[r]++
		case pairs[r] != 0:
			depth[pairs[r]]--
			if depth[pairs[r]] < 0 {
				t.Errorf("%s: unbalanced %q in %s", where, r, expr)
				return
			}
		}
	}
	for r, d := range depth {
		if d != 0 {
			t.Errorf("%s: unbalanced %q in %s", where, r, expr)
		}
	}
}

func (code *deployCode) metricDeclared(name string) bool {
	if code.metrics[name] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && code.metrics[base] {
			return true
		}
	}
	return false
}

func TestDeployDashboards(t *testing.T) {
	code := deployLoad(t)
	files := deployFiles(t, code.root, "deploy", ".json")
	if len(files) == 0 {
		t.Fatal("no dashboard JSON under deploy/")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var dash map[string]any
		if err := json.Unmarshal(b, &dash); err != nil {
			t.Errorf("%s: %v", code.rel(f), err)
			continue
		}
		if _, ok := dash["panels"]; !ok {
			continue
		}
		exprs, ids := 0, map[int]bool{}
		var walk func(v any, title string)
		walk = func(v any, title string) {
			switch v := v.(type) {
			case map[string]any:
				if s, ok := v["title"].(string); ok {
					title = s
				}
				if id, ok := deployInt(v["id"]); ok && v["gridPos"] != nil {
					if ids[id] {
						t.Errorf("%s: panel id %d is used twice", code.rel(f), id)
					}
					ids[id] = true
				}
				if e, ok := v["expr"].(string); ok {
					exprs++
					code.checkMetrics(t, fmt.Sprintf("%s: panel %q", code.rel(f), title), e)
				}
				for _, x := range v {
					walk(x, title)
				}
			case []any:
				for _, x := range v {
					walk(x, title)
				}
			}
		}
		walk(dash["panels"], "")
		if exprs == 0 {
			t.Errorf("%s: a dashboard without a single query", code.rel(f))
		}
	}
}

func TestDeployAlerts(t *testing.T) {
	code := deployLoad(t)
	rules := 0
	for _, f := range deployFiles(t, code.root, "deploy", ".yml", ".yaml") {
		for _, doc := range deployYAML(t, f) {
			groups, ok := doc["groups"]
			if !ok {
				continue
			}
			seen := map[string]bool{}
			for _, g := range deployList(groups) {
				for _, r := range deployList(deployGet(g, "rules")) {
					name := deployStr(deployGet(r, "alert"))
					if name == "" {
						name = deployStr(deployGet(r, "record"))
					}
					where := fmt.Sprintf("%s: %s", code.rel(f), name)
					rules++
					if seen[name] {
						t.Errorf("%s: defined twice", where)
					}
					seen[name] = true
					expr := deployStr(deployGet(r, "expr"))
					if expr == "" {
						t.Errorf("%s: no expr", where)
					}
					code.checkMetrics(t, where, expr)
					if deployGet(r, "alert") == nil {
						continue
					}
					switch sev := deployStr(deployGet(r, "labels", "severity")); sev {
					case "page", "ticket", "info":
					default:
						t.Errorf("%s: severity %q is none of page, ticket, info", where, sev)
					}
					if deployStr(deployGet(r, "annotations", "summary")) == "" {
						t.Errorf("%s: no summary", where)
					}
					want := "deploy/README.md#" + deployAnchor(name)
					if got := deployStr(deployGet(r, "annotations", "runbook")); got != want {
						t.Errorf("%s: runbook annotation is %q, want %q", where, got, want)
					}
					if !code.anchors[deployAnchor(name)] {
						t.Errorf("%s: deploy/README.md has no runbook section headed %s", where, name)
					}
				}
			}
		}
	}
	if rules == 0 {
		t.Fatal("no Prometheus rules under deploy/")
	}
}

// TestDeployParses reads every YAML and JSON file under deploy/, including the examples
// that no other check looks into.
func TestDeployParses(t *testing.T) {
	code := deployLoad(t)
	for _, f := range deployFiles(t, code.root, "deploy", ".yml", ".yaml") {
		deployYAML(t, f)
	}
	for _, f := range deployFiles(t, code.root, "deploy", ".json") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) {
			t.Errorf("%s: not valid JSON", code.rel(f))
		}
	}
}

// ---- helpers ----------------------------------------------------------------------------

func (code *deployCode) rel(path string) string {
	if r, err := filepath.Rel(code.root, path); err == nil {
		return r
	}
	return path
}

func deployFiles(t *testing.T, root, dir string, exts ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && slices.Contains(exts, filepath.Ext(path)) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// deployYAMLFilesAt is path itself when it is a YAML file, or the YAML files below it.
func deployYAMLFilesAt(path string) []string {
	st, err := os.Stat(path)
	if err != nil {
		return nil
	}
	if !st.IsDir() {
		if ext := filepath.Ext(path); ext == ".yml" || ext == ".yaml" {
			return []string{path}
		}
		return nil
	}
	var out []string
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if ext := filepath.Ext(p); err == nil && !d.IsDir() && (ext == ".yml" || ext == ".yaml") {
			out = append(out, p)
		}
		return err
	})
	return out
}

// deployYAML decodes every document of a YAML file; a file that does not parse fails.
func deployYAML(t *testing.T, file string) []map[string]any {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []map[string]any
	dec := yaml.NewDecoder(f)
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	if len(docs) == 0 {
		docs = append(docs, map[string]any{})
	}
	return docs
}

func deployGet(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func deployMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func deployList(v any) []any {
	l, _ := v.([]any)
	return l
}

func deployStr(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

func deployInt(v any) (int, bool) {
	switch v := v.(type) {
	case int:
		return v, true
	case float64:
		return int(v), v == float64(int(v))
	}
	return 0, false
}

// deployArgs is a command as a list (a string is split on spaces, as compose does).
func deployArgs(v any) []string {
	if s, ok := v.(string); ok {
		return strings.Fields(s)
	}
	var out []string
	for _, a := range deployList(v) {
		out = append(out, deployStr(a))
	}
	return out
}

func deployComposeEnv(v any) map[string]string {
	env := map[string]string{}
	for k, val := range deployMap(v) {
		env[k] = deployStr(val)
	}
	for _, kv := range deployList(v) {
		k, val, _ := strings.Cut(deployStr(kv), "=")
		env[k] = val
	}
	return env
}

// deployComposePort is the container side of a compose ports/expose entry.
func deployComposePort(t *testing.T, where string, v any) int {
	t.Helper()
	s := deployStr(v)
	if m, ok := v.(map[string]any); ok {
		s = deployStr(m["target"])
	}
	s, _, _ = strings.Cut(s[strings.LastIndex(s, ":")+1:], "/")
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Errorf("%s: port %v has no literal container port", where, v)
	}
	return n
}

// deployComposeMount is the source and target of a compose volumes entry.
func deployComposeMount(v any) (src, dst string) {
	if m, ok := v.(map[string]any); ok {
		return deployStr(m["source"]), deployStr(m["target"])
	}
	parts := strings.Split(deployStr(v), ":")
	if len(parts) < 2 {
		return "", parts[0]
	}
	return parts[0], parts[1]
}

// deployIsLuffyImage: "luffy", "luffy:dev", "registry.example.com/luffy:1",
// "${LUFFY_IMAGE:-luffy:dev}".
func deployIsLuffyImage(image string) bool {
	if strings.HasPrefix(image, "${LUFFY_IMAGE") {
		return true
	}
	return image != "" && deployImageName(image)[strings.LastIndex(deployImageName(image), "/")+1:] == "luffy"
}

func deployImageName(image string) string {
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[:i]
	}
	return image
}

// deployAnchor is the anchor GitHub gives a Markdown heading.
func deployAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

func deploySortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
