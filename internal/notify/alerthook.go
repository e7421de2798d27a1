package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/vigilsec/vigil/internal/alert"
)

// FromAlert makes the notification of an alert. link is the alert's
// console URL, or "".
func FromAlert(a *alert.Alert, link string) Notification {
	data, _ := json.Marshal(a)
	var where []string
	for _, k := range []string{"host", "user", "source.ip"} {
		if v := a.Entities[k]; len(v) > 0 {
			where = append(where, k+" "+strings.Join(v, ", "))
		}
	}
	summary := fmt.Sprintf("%s (%s)", a.RuleTitle, a.Level)
	if a.Count > 1 {
		summary = fmt.Sprintf("%s: %d detections (%s)", a.RuleTitle, a.Count, a.Level)
	}
	if len(where) > 0 {
		summary += " on " + strings.Join(where, "; ")
	}
	t := a.FirstSeen
	if t.IsZero() {
		t = a.LastSeen
	}
	return Notification{
		ID:       a.ID,
		Kind:     KindAlert,
		Level:    a.Level,
		Title:    a.RuleTitle,
		Summary:  summary,
		RuleID:   a.RuleID,
		Tags:     a.Tags,
		Entities: a.Entities,
		Time:     t,
		Link:     link,
		Data:     data,
	}
}

// AlertHook returns an alert.Hook that queues a notification for every new
// alert (updates of an existing alert, that is repeats folded into it, are
// not notified again). link gives an alert's console URL; it may be nil.
// Errors are logged: a hook cannot return them.
func (n *Notifier) AlertHook(link func(*alert.Alert) string) alert.Hook {
	return alertHook{n: n, link: link}
}

type alertHook struct {
	n    *Notifier
	link func(*alert.Alert) string
}

func (h alertHook) AlertsChanged(ctx context.Context, changes []alert.Change) {
	var nts []Notification
	for i := range changes {
		c := &changes[i]
		if !c.New {
			continue
		}
		l := ""
		if h.link != nil {
			l = h.link(&c.Alert)
		}
		nts = append(nts, FromAlert(&c.Alert, l))
	}
	if len(nts) == 0 {
		return
	}
	if err := h.n.NotifyAll(ctx, nts); err != nil {
		h.n.log.Error("queueing alert notifications", "alerts", len(nts), "err", err)
	}
}
