// Package geoip looks addresses up in MaxMind DB files (GeoIP2 or GeoLite2
// City/Country, and ASN), for the enrichment step of response playbooks.
package geoip

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Info is what the databases know of an address.
type Info struct {
	Country     string `json:"country,omitempty"` // ISO code
	CountryName string `json:"country_name,omitempty"`
	City        string `json:"city,omitempty"`
	ASN         uint   `json:"asn,omitempty"`
	Org         string `json:"org,omitempty"`
}

// String renders Info for an action result: "US (United States), Ashburn, AS14618 Amazon".
func (i Info) String() string {
	var parts []string
	if i.Country != "" {
		c := i.Country
		if i.CountryName != "" {
			c += " (" + i.CountryName + ")"
		}
		parts = append(parts, c)
	}
	if i.City != "" {
		parts = append(parts, i.City)
	}
	if i.ASN != 0 {
		a := fmt.Sprintf("AS%d", i.ASN)
		if i.Org != "" {
			a += " " + i.Org
		}
		parts = append(parts, a)
	}
	if len(parts) == 0 {
		return "not in the GeoIP databases"
	}
	return strings.Join(parts, ", ")
}

// DB holds the open databases.
type DB struct {
	city, asn *maxminddb.Reader
}

// Open opens a City or Country database and, optionally, an ASN database.
// Either path may be empty, not both.
func Open(cityPath, asnPath string) (*DB, error) {
	if cityPath == "" && asnPath == "" {
		return nil, errors.New("geoip: no database configured")
	}
	d := &DB{}
	var err error
	if cityPath != "" {
		if d.city, err = maxminddb.Open(cityPath); err != nil {
			return nil, fmt.Errorf("opening GeoIP database %q: %w", cityPath, err)
		}
	}
	if asnPath != "" {
		if d.asn, err = maxminddb.Open(asnPath); err != nil {
			d.Close()
			return nil, fmt.Errorf("opening ASN database %q: %w", asnPath, err)
		}
	}
	return d, nil
}

type cityRecord struct {
	Country struct {
		ISOCode string            `maxminddb:"iso_code"`
		Names   map[string]string `maxminddb:"names"`
	} `maxminddb:"country"`
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
}

type asnRecord struct {
	ASN uint   `maxminddb:"autonomous_system_number"`
	Org string `maxminddb:"autonomous_system_organization"`
}

// Lookup returns what the databases say of ip (a zero Info when nothing).
func (d *DB) Lookup(ip netip.Addr) (Info, error) {
	var info Info
	ip = ip.Unmap()
	if d.city != nil {
		var rec cityRecord
		if err := d.city.Lookup(ip).Decode(&rec); err != nil {
			return info, fmt.Errorf("geoip lookup of %s: %w", ip, err)
		}
		info.Country, info.CountryName, info.City = rec.Country.ISOCode, rec.Country.Names["en"], rec.City.Names["en"]
	}
	if d.asn != nil {
		var rec asnRecord
		if err := d.asn.Lookup(ip).Decode(&rec); err != nil {
			return info, fmt.Errorf("ASN lookup of %s: %w", ip, err)
		}
		info.ASN, info.Org = rec.ASN, rec.Org
	}
	return info, nil
}

type locationRecord struct {
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

// Locate returns the City database's coordinates of ip; ok is false when
// there is no City database or it has no location for ip (a Country
// database has none).
func (d *DB) Locate(ip netip.Addr) (lat, lon float64, ok bool) {
	if d.city == nil {
		return 0, 0, false
	}
	var rec locationRecord
	if err := d.city.Lookup(ip.Unmap()).Decode(&rec); err != nil || rec.Location.Latitude == nil || rec.Location.Longitude == nil {
		return 0, 0, false
	}
	return *rec.Location.Latitude, *rec.Location.Longitude, true
}

// Close releases the databases.
func (d *DB) Close() error {
	var errs []error
	if d.city != nil {
		errs = append(errs, d.city.Close())
	}
	if d.asn != nil {
		errs = append(errs, d.asn.Close())
	}
	return errors.Join(errs...)
}
