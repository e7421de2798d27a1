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

func TestLocate(t *testing.T) {
	city, asn := geoiptest.Write(t, "203.0.113.0/24")
	d, err := Open(city, asn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tests := []struct {
		ip       string
		lat, lon float64
		ok       bool
	}{
		{"203.0.113.9", 52.3759, 4.8975, true},
		{"::ffff:203.0.113.9", 52.3759, 4.8975, true},
		{"198.51.100.1", 0, 0, false},
	}
	for _, tt := range tests {
		lat, lon, ok := d.Locate(netip.MustParseAddr(tt.ip))
		if lat != tt.lat || lon != tt.lon || ok != tt.ok {
			t.Errorf("%s: got %v, %v, %v; want %v, %v, %v", tt.ip, lat, lon, ok, tt.lat, tt.lon, tt.ok)
		}
	}
	asnOnly, err := Open("", asn)
	if err != nil {
		t.Fatal(err)
	}
	defer asnOnly.Close()
	if _, _, ok := asnOnly.Locate(netip.MustParseAddr("203.0.113.9")); ok {
		t.Error("ASN database only: got a location")
	}
}
