package worker

import (
	"strconv"
)

// language says how the sandbox compiles and runs one language. Paths are absolute: the
// runner execs them without a PATH search.
type language struct {
	source  string   // file name the source is written to
	compile []string // nil: nothing to compile (the check step still catches syntax errors)
	run     func(memoryMB int) []string
	env     []string
	// Interpreters and virtual machines start slower and run slower; their time limit is
	// the problem's times factor plus extra, as contest sites do.
	timeFactor float64
	extraMS    int
	// overheadMB is memory the runtime itself needs before the program allocates
	// anything; it is added to the container's limit, not to what the program may use.
	overheadMB int
}

var baseEnv = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/work", "TMPDIR=/tmp", "LANG=C.UTF-8"}

var languages = map[string]language{
	"c": {
		source:     "main.c",
		compile:    []string{"/usr/bin/gcc", "-O2", "-std=gnu11", "-pipe", "-o", "main", "main.c", "-lm"},
		run:        func(int) []string { return []string{"/work/main"} },
		timeFactor: 1,
	},
	"cpp17": {
		source:     "main.cpp",
		compile:    []string{"/usr/bin/g++", "-O2", "-std=c++17", "-pipe", "-o", "main", "main.cpp"},
		run:        func(int) []string { return []string{"/work/main"} },
		timeFactor: 1,
	},
	"python3": {
		source: "main.py",
		// Compiling without running catches syntax errors as CE rather than RE.
		compile:    []string{"/usr/bin/python3", "-S", "-c", "import sys; compile(open('main.py','rb').read(), 'main.py', 'exec')"},
		run:        func(int) []string { return []string{"/usr/bin/python3", "-S", "-B", "main.py"} },
		timeFactor: 2,
		overheadMB: 16,
	},
	"java17": {
		source:  "Main.java",
		compile: []string{"/usr/bin/javac", "-J-Xmx384m", "-J-XX:+UseSerialGC", "-J-XX:-UsePerfData", "-J-XX:TieredStopAtLevel=1", "-encoding", "UTF-8", "-nowarn", "Main.java"},
		run: func(mb int) []string {
			return []string{"/usr/bin/java", "-Xmx" + strconv.Itoa(mb) + "m", "-Xss64m", "-XX:+UseSerialGC", "-XX:-UsePerfData", "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-cp", "/work", "Main"}
		},
		timeFactor: 1.5,
		extraMS:    500,
		overheadMB: 64,
	},
	"go": {
		source:     "main.go",
		compile:    []string{"/usr/bin/go", "build", "-o", "main", "main.go"},
		env:        []string{"GOCACHE=/tmp/gocache", "GOPATH=/tmp/gopath", "GO111MODULE=off", "GOTOOLCHAIN=local", "GOMAXPROCS=1"},
		run:        func(int) []string { return []string{"/work/main"} },
		timeFactor: 1,
	},
	"javascript": {
		source:  "main.js",
		compile: []string{"/usr/bin/node", "--check", "main.js"},
		run: func(mb int) []string {
			return []string{"/usr/bin/node", "--max-old-space-size=" + strconv.Itoa(mb), "--stack-size=65500", "main.js"}
		},
		timeFactor: 2,
		extraMS:    100,
		overheadMB: 64, // node alone holds about 48 MB
	},
}
