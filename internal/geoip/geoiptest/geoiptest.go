// Package geoiptest writes small MaxMind DB files for tests: a City and an
// ASN database covering one network, laid out as GeoLite2's are.
package geoiptest

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

func write(tb testing.TB, dbType, cidr string, rec mmdbtype.Map) string {
	tb.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		tb.Fatal(err)
	}
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		tb.Fatal(err)
	}
	if err := w.Insert(n, rec); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), dbType+".mmdb")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := w.WriteTo(f); err != nil {
		tb.Fatal(err)
	}
	return path
}

// Write creates City and ASN databases in which cidr is in Amsterdam, NL,
// announced by AS64500 "Example Hosting", and returns their paths.
func Write(tb testing.TB, cidr string) (city, asn string) {
	tb.Helper()
	city = write(tb, "GeoLite2-City", cidr, mmdbtype.Map{
		"country":  mmdbtype.Map{"iso_code": mmdbtype.String("NL"), "names": mmdbtype.Map{"en": mmdbtype.String("Netherlands")}},
		"city":     mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Amsterdam")}},
		"location": mmdbtype.Map{"latitude": mmdbtype.Float64(52.3759), "longitude": mmdbtype.Float64(4.8975)},
	})
	asn = write(tb, "GeoLite2-ASN", cidr, mmdbtype.Map{
		"autonomous_system_number":       mmdbtype.Uint32(64500),
		"autonomous_system_organization": mmdbtype.String("Example Hosting"),
	})
	return city, asn
}
