package respond

import (
	"context"
	"fmt"
	"net/netip"
)

// ActionEnrichGeoIP looks an address up in the MaxMind databases
// (respond.geoip_db, respond.asn_db) and records its country, city and AS.
const ActionEnrichGeoIP Action = "enrich_geoip"

func init() {
	registerAction(actionSpec{name: ActionEnrichGeoIP, target: true, manual: true, do: enrichGeoIP})
}

func enrichGeoIP(_ context.Context, r *Runner, c *actionCall) (string, string) {
	addr, err := netip.ParseAddr(c.target)
	if err != nil {
		return "failed", fmt.Sprintf("%q is not an IP address", c.target)
	}
	if r.o.GeoIP == nil {
		return "skipped", "no GeoIP database configured (respond.geoip_db)"
	}
	info, err := r.o.GeoIP(addr)
	if err != nil {
		return "failed", err.Error()
	}
	return "ok", info
}
