package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/demo"
	"github.com/rapportcare/rapport/sync/simulate"
)

func simulateFlags(fs *flag.FlagSet) func(context.Context, environment) error {
	url := fs.String("url", "", "server to simulate against (default: http://localhost<RAPPORT_ADDR>)")
	devices := fs.Int("devices", 20, "how many simulated devices")
	rounds := fs.Int("rounds", 5, "offline/online cycles per device")
	ops := fs.Int("ops", 5, "offline changes per device per round")
	dropReq := fs.Float64("drop-requests", 0.1, "probability a request never reaches the server (0-1)")
	dropResp := fs.Float64("drop-responses", 0.1, "probability the server's answer never reaches the device (0-1)")
	seed := fs.Int64("seed", 1, "random seed")
	concurrency := fs.Int("concurrency", 0, "devices talking to the server at once (default: all)")
	spread := fs.Duration("spread", 0, "length of a round: each device comes online at a random moment within it (default 0: all at once)")
	return func(ctx context.Context, env environment) error {
		if *devices < 1 || *rounds < 1 || *ops < 1 {
			return usagef("simulate: --devices, --rounds and --ops must be at least 1")
		}
		if *spread < 0 {
			return usagef("simulate: --spread must not be negative")
		}
		if *dropReq < 0 || *dropReq > 1 || *dropResp < 0 || *dropResp > 1 {
			return usagef("simulate: drop probabilities must be between 0 and 1")
		}
		v, addr, err := minter(env)
		if err != nil {
			return err
		}
		base := *url
		if base == "" {
			base = baseURL(addr)
		}
		lead, err := v.MintHMAC(auth.MintRequest{Subject: demo.NurseID.String(), OrganizationID: demo.NursingOrgID,
			Role: care.RoleNurse, TTL: time.Hour})
		if err != nil {
			return err
		}
		nurses, err := simulate.Colleagues(ctx, base, lead, "DISTRICT_NURSE")
		if err != nil {
			return fmt.Errorf("find the demo nurse's colleagues (is the demo seeded? make run seeds it): %w", err)
		}
		tokens, err := simulate.HMACTokens(v, demo.NursingOrgID, nurses, time.Hour)
		if err != nil {
			return err
		}
		rep, err := simulate.Run(ctx, simulate.Options{BaseURL: base, Devices: *devices, Tokens: tokens,
			Rounds: *rounds, OpsPerRound: *ops, DropRequest: *dropReq, DropResponse: *dropResp, Seed: *seed,
			Concurrency: *concurrency, Spread: *spread, Logf: func(f string, a ...any) { fmt.Fprintf(env.stderr, f+"\n", a...) }})
		if rep != nil {
			if _, werr := io.WriteString(env.stdout, rep.String()+"\n"); werr != nil {
				return errors.Join(err, werr)
			}
		}
		return err
	}
}
