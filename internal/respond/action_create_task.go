package respond

import "context"

// ActionCreateTask adds a task to the incident: with.title (a template),
// with.assignee (a user name, plain).
const ActionCreateTask Action = "create_task"

func init() {
	registerAction(actionSpec{name: ActionCreateTask, manual: true, do: createTask})
}

func createTask(ctx context.Context, r *Runner, c *actionCall) (string, string) {
	title, err := render(c.s.With["title"], ctxLine, c.d)
	if err != nil || title == "" {
		return "failed", "with.title: " + errString(err, "empty")
	}
	if _, err := r.inc.AddTask(ctx, c.t.IncidentID, "playbook", title, c.s.With["assignee"]); err != nil {
		return "failed", err.Error()
	}
	return "ok", "task added: " + title
}
