package api

import (
	"context"
	"sort"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/incident"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/store"
)

// relatedFields maps incident entity kinds to the event fields searched
// for related events.
var relatedFields = map[string]string{
	"source.ip":      "source.ip",
	"destination.ip": "destination.ip",
	"user":           "user.name",
	"host":           "host.name",
}

// maxRelated bounds the stored events joined into a timeline.
const maxRelated = 50

// addRelatedEvents joins into the incident's timeline the newest stored
// events that name one of its entities, from an hour before its first alert
// to an hour after its last activity. The query is built as an AST, so
// entity values never pass through query text.
func (a *API) addRelatedEvents(ctx context.Context, inc *incident.Incident) {
	var terms []query.Expr
	for kind, field := range relatedFields {
		for _, v := range inc.Entities[kind] {
			terms = append(terms, &query.Term{Field: field, Op: query.OpEq, Value: v})
		}
	}
	if len(terms) == 0 {
		return
	}
	var filter query.Expr = terms[0]
	if len(terms) > 1 {
		filter = &query.Or{Terms: terms}
	}
	from, to := inc.Created, inc.Updated
	for _, al := range inc.Alerts {
		if al.FirstSeen.Before(from) {
			from = al.FirstSeen
		}
		if al.LastSeen.After(to) {
			to = al.LastSeen
		}
	}
	res, err := a.o.Store.Search(ctx, store.SearchRequest{
		Query: &query.Query{Filter: filter}, From: from.Add(-time.Hour), To: to.Add(time.Hour), Limit: maxRelated,
	})
	if err != nil {
		a.o.Log.Warn("related events for incident", "incident", inc.ID, "err", err)
		return
	}
	for _, h := range res.Events {
		text := h.Event.Str(event.FieldMessage)
		if text == "" {
			text = h.Event.Raw
		}
		if len(text) > 500 {
			text = text[:500] + "…"
		}
		inc.Timeline = append(inc.Timeline, incident.Entry{
			ID: h.ID, Time: h.Event.Timestamp().UTC(), Kind: "event", Actor: h.Event.Str(event.FieldHostName),
			Text: text, Data: h.Event.AppendJSON(nil),
		})
	}
	sort.SliceStable(inc.Timeline, func(i, j int) bool { return inc.Timeline[i].Time.Before(inc.Timeline[j].Time) })
}
