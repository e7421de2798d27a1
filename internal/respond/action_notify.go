package respond

import "context"

// ActionNotify queues a notification of the incident through the
// notification routes: with.text (a template).
const ActionNotify Action = "notify"

func init() {
	registerAction(actionSpec{name: ActionNotify, manual: true, do: notify})
}

func notify(ctx context.Context, r *Runner, c *actionCall) (string, string) {
	if r.o.Notify == nil {
		return "skipped", "notifications are not configured"
	}
	text, err := render(c.s.With["text"], ctxLine, c.d)
	if err != nil {
		return "failed", "with.text: " + err.Error()
	}
	inc, err := r.inc.Get(ctx, c.t.IncidentID)
	if err != nil {
		return "failed", err.Error()
	}
	if err := r.o.Notify(ctx, text, inc); err != nil {
		return "failed", err.Error()
	}
	return "ok", "queued for delivery"
}
