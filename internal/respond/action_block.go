package respond

import (
	"context"
	"time"

	"github.com/vigilsec/vigil/internal/incident"
)

// The address actions run the command an admin configured
// (respond.commands, or respond.batch_commands for many addresses in one
// run) on addresses checked first (see checkAddr); a block_ip with a TTL
// is lifted by an unblock_ip when it expires.
const (
	ActionBlockIP   Action = "block_ip"
	ActionUnblockIP Action = "unblock_ip"
)

func init() {
	for _, name := range []Action{ActionBlockIP, ActionUnblockIP} {
		registerAction(actionSpec{name: name, target: true, manual: true, command: true, batch: true, performAll: performAddrs})
	}
}

// performAddrs runs a block_ip or unblock_ip step on its addresses: one
// batch command for them all when one is configured, else the command once
// per address, each under the playbook's rate limit and circuit breaker.
// It returns the blocks to schedule (block_ip with a TTL).
func performAddrs(ctx context.Context, r *Runner, c *actionCall, acts []*incident.Action) []block {
	s, d := c.s, c.d
	var valid []*incident.Action
	for _, a := range acts {
		ip, status, result := r.checkAddr(a.Target)
		if status != "" {
			a.Status, a.Result = status, result
			continue
		}
		a.Target = ip
		valid = append(valid, a)
	}
	if len(valid) == 0 {
		return nil
	}
	g := r.guard(c.p)
	name := string(s.Action)
	bc, batch := r.o.BatchCommands[name]
	if !batch && len(r.o.Commands[name]) == 0 {
		for _, a := range valid {
			a.Status, a.Result = "skipped", "no command configured for "+name+" (respond.batch_commands or respond.commands)"
		}
		return nil
	}
	if batch {
		ips := make([]string, len(valid))
		for i, a := range valid {
			ips[i] = a.Target
		}
		status, result := g.run(ctx, r, func() (string, string) { return r.batchCommand(ctx, name, bc, d, ips) })
		for _, a := range valid {
			a.Status, a.Result = status, result
		}
	} else {
		for _, a := range valid {
			d.Target = a.Target
			a.Status, a.Result = g.run(ctx, r, func() (string, string) { return r.command(ctx, name, d) })
		}
	}
	if s.Action != ActionBlockIP || s.TTL <= 0 {
		return nil
	}
	until := r.o.Now().Add(time.Duration(s.TTL))
	var blocks []block
	for _, a := range valid {
		if a.Status == "ok" {
			blocks = append(blocks, block{a.Target, until})
			a.Result += "; unblock scheduled at " + until.UTC().Format(time.RFC3339)
		}
	}
	return blocks
}
