package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// BenchmarkPages renders every page but search results against a meta
// database with 20,000 alerts and 2,000 incidents, measuring server time
// (the handler, without the network). None of these pages reads events:
// they use the store's stats, the alert and incident tables and the
// metrics registry, so the number of stored events does not change them.
//
//	go test -run '^$' -bench BenchmarkPages -benchtime 20x ./internal/web/
func BenchmarkPages(b *testing.B) {
	e := newEnv(b)
	ids := e.addAlerts(b, 20000)
	ctx := context.Background()
	var incID string
	for i := range 2000 {
		inc, err := e.o.Incidents.Create(ctx, "admin", "Incident", "high", ids[i*5:i*5+3])
		if err != nil {
			b.Fatal(err)
		}
		incID = inc.ID
	}
	c := e.client(b)
	c.login("admin")
	u, _ := url.Parse(e.srv.URL)
	cookies := c.http.Jar.Cookies(u)
	h := e.srv.Config.Handler
	for _, p := range []string{"/", "/alerts", "/alerts?status=any", "/alerts/" + ids[0], "/incidents", "/incidents/" + incID,
		"/rules", "/rules/view?id=" + url.QueryEscape(builtinRules(b).Set.Rules[0].ID), "/attack", "/sources", "/settings"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("GET", p, nil)
				for _, ck := range cookies {
					req.AddCookie(ck)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: got %d", p, rec.Code)
				}
			}
		})
	}
}
