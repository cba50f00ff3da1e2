package main

import (
	"context"
	"fmt"
	"os"

	"github.com/luffy-edu/luffy/paysim"
	"github.com/luffy-edu/luffy/points"
)

// paysimCmd runs the payment gateway simulator.
type paysimCmd struct {
	Listen      string `help:"Address of the simulator." default:"127.0.0.1:8083" env:"LUFFY_PAYSIM_LISTEN"`
	CallbackURL string `name:"callback-url" help:"Where paid trades are notified (the origin's payment callback)." default:"http://127.0.0.1:8080/api/v1/payments/callback" env:"LUFFY_CALLBACK_URL"`
	Secret      string `help:"HMAC secret shared with the origins (--gateway-secret there)." default:"luffy-dev-gateway-secret" env:"LUFFY_GATEWAY_SECRET"`
}

func (c paysimCmd) Run(ctx context.Context) error {
	srv := paysim.New(paysim.Config{Listen: c.Listen, CallbackURL: c.CallbackURL, Secret: c.Secret})
	return runServices(ctx, 10e9, srv)
}

// pointsCmd groups the points ledger's operator commands.
type pointsCmd struct {
	Verify pointsVerifyCmd `cmd:"" help:"Check that the points ledger balances; exits non-zero when it does not."`
}

type pointsVerifyCmd struct{}

func (pointsVerifyCmd) Run(g *globals, ctx context.Context) error {
	pool, err := g.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	r, err := points.Verify(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Printf("points ledger: %d accounts, %d transfers\n", r.Accounts, r.Transfers)
	if len(r.Problems) > 0 {
		for _, p := range r.Problems {
			fmt.Println("  problem:", p)
		}
		fmt.Println("NOT BALANCED")
		os.Exit(2)
	}
	fmt.Println("balanced")
	return nil
}
