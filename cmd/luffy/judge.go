package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/luffy-edu/luffy/judge/sandbox"
)

// judgeImageCmd builds the sandbox image.
type judgeImageCmd struct {
	WorkDir string `name:"work-dir" help:"Where the root filesystem is assembled (needs about 2 GB)." default:".data/judge-build" env:"LUFFY_JUDGE_BUILD_DIR"`
	Mirror  string `help:"Debian mirror (default: the first one in this machine's apt sources)." env:"LUFFY_JUDGE_MIRROR"`
	Force   bool   `help:"Rebuild even when the image for this recipe exists."`
	Print   bool   `help:"Only print the image tag of the built-in recipe."`
}

func (c judgeImageCmd) Run(ctx context.Context) error {
	r := sandbox.DefaultRecipe()
	if c.Print {
		fmt.Println(r.Tag())
		return nil
	}
	eng, err := sandbox.NewEngine(ctx, sandbox.Config{})
	if err != nil {
		return err
	}
	defer eng.Close()
	dir, err := filepath.Abs(c.WorkDir)
	if err != nil {
		return err
	}
	tag, err := sandbox.BuildImage(ctx, eng.Client(), r, sandbox.BuildOptions{WorkDir: dir, Mirror: c.Mirror, Force: c.Force})
	if err != nil {
		return err
	}
	fmt.Println(tag)
	return nil
}

// judgeCmd groups the judge's commands.
type judgeCmd struct {
	Image judgeImageCmd `cmd:"" help:"Build the sandbox image locally (debootstrap + Docker API import); a no-op when it is up to date."`
}
