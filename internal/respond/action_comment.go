package respond

import "context"

// ActionComment comments on the incident: with.text (a template).
const ActionComment Action = "comment"

func init() {
	registerAction(actionSpec{name: ActionComment, manual: true, do: comment})
}

func comment(ctx context.Context, r *Runner, c *actionCall) (string, string) {
	text, err := render(c.s.With["text"], ctxLine, c.d)
	if err != nil || text == "" {
		return "failed", "with.text: " + errString(err, "empty")
	}
	if _, err := r.inc.Comment(ctx, c.t.IncidentID, "playbook:"+c.p.Name, text); err != nil {
		return "failed", err.Error()
	}
	return "ok", ""
}
