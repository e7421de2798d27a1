package intel_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/intel"
)

func Example() {
	inds, errs := intel.ParseList(strings.NewReader("198.51.100.0/24\nevil.example\n"), intel.ParseOptions{Feed: "blocklist"})
	if len(errs) > 0 {
		fmt.Println(errs)
	}
	x := intel.NewIndex([][]intel.Indicator{inds}, intel.IndexOptions{})

	ev := &event.Event{}
	ev.Set("source.ip", event.String("198.51.100.23"))
	ev.Set("dns.question.name", event.String("cdn.Evil.example"))
	x.Match(ev, func(h intel.Hit) {
		fmt.Println(h.Field, h.Value, "->", h.Indicator.Context.Feed, h.Indicator.Kind, h.Indicator.Value)
	})
	// Output:
	// source.ip 198.51.100.23 -> blocklist ip 198.51.100.0/24
	// dns.question.name cdn.Evil.example -> blocklist domain evil.example
}

// ExampleManager shows the wiring: a Manager owned by the server, run until
// shutdown, matched against every event before it is stored.
func ExampleManager() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := intel.New([]intel.FeedConfig{
		{Name: "blocklist", Path: "/etc/vigil/intel/blocklist.txt"},
		{Name: "urlhaus", URL: "https://urlhaus.example/csv", Format: intel.FormatCSV,
			Kind: intel.KindURL, CSV: intel.CSVColumns{Value: "url", Tags: "tags"}},
	}, intel.Options{Logger: slog.Default()})
	if err != nil {
		fmt.Println(err)
		return
	}
	go m.Run(ctx) // loads, then refreshes each feed on its schedule

	// In the pipeline, for every event:
	var ev event.Event
	m.Match(&ev, func(h intel.Hit) {
		// Turn the hit into an alert.
	})

	// For the API:
	for _, st := range m.Status() {
		fmt.Println(st.Name, st.Indicators, st.LastError)
	}
}
