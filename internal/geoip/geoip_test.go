package geoip

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/internal/geoip/geoiptest"
)

func TestLookup(t *testing.T) {
	city, asn := geoiptest.Write(t, "203.0.113.0/24")
	d, err := Open(city, asn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := d.Lookup(netip.MustParseAddr("203.0.113.9"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "NL (Netherlands), Amsterdam, AS64500 Example Hosting"; got.String() != want {
		t.Errorf("got %q, want %q", got, want)
	}
	miss, err := d.Lookup(netip.MustParseAddr("198.51.100.1"))
	if err != nil || miss.String() != "not in the GeoIP databases" {
		t.Errorf("unknown address: %q, %v", miss, err)
	}
	if _, err := Open("", ""); err == nil {
		t.Error("Open with no database succeeded")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.mmdb"), ""); err == nil {
		t.Error("Open of a missing file succeeded")
	}
}
