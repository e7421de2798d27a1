package findings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vigilsec/vigil/internal/vuln/scan"
)

// MaxUploadBytes bounds the body of a scan upload (as scan.MaxFileBytes
// bounds an SBOM read by vigil scan).
const MaxUploadBytes = scan.MaxFileBytes

// uploadLimit is MaxUploadBytes (tests lower it).
var uploadLimit = MaxUploadBytes

// Field bounds of an uploaded package.
const (
	maxEcosystemLen = 128
	maxPackageLen   = 1024
	maxVersionLen   = 256
	maxLocationLen  = 4096
	maxKindLen      = 64
)

// Upload is what `vigil scan --server` posts: the asset, the inventory
// it scanned, and (informational, not stored) its findings. The server
// matches the packages against its own advisory database.
type Upload struct {
	Asset    UploadAsset    `json:"asset"`
	Packages []scan.Package `json:"packages"`
	// Findings are the client's own findings: accepted so that vigil
	// scan's JSON output can be posted as is, but never trusted — the
	// server matches the packages itself.
	Findings json.RawMessage `json:"findings,omitempty"`
	// Skipped counts the components the client could not match.
	Skipped map[string]int `json:"skipped,omitempty"`
}

// UploadAsset names the asset of an upload.
type UploadAsset struct {
	Name        string   `json:"name"`
	Criticality string   `json:"criticality,omitempty"`
	Tags        []string `json:"tags,omitempty"`
}

// ParseUpload reads a scan upload: a JSON Upload, or a CycloneDX
// (1.4–1.6) or SPDX (2.2, 2.3) JSON SBOM, recognised by content. For an
// SBOM, the asset is def's (the request's query) and its kind sbom. It
// returns the asset, the packages and how many SBOM components were
// skipped (no purl, an ecosystem without a version ordering).
func ParseUpload(data []byte, def UploadAsset) (AssetInventory, int, error) {
	if len(data) > uploadLimit {
		return AssetInventory{}, 0, fmt.Errorf("%w: body larger than %d bytes", ErrInvalid, uploadLimit)
	}
	var head struct {
		BOMFormat   *json.RawMessage `json:"bomFormat"`
		SPDXVersion *json.RawMessage `json:"spdxVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return AssetInventory{}, 0, fmt.Errorf("%w: not a JSON object: %w", ErrInvalid, err)
	}
	var inv AssetInventory
	skipped := 0
	if head.BOMFormat != nil || head.SPDXVersion != nil {
		pkgs, err := scan.ParseSBOM(data, "upload")
		if err != nil {
			return inv, 0, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		for _, p := range pkgs {
			if p.Skipped != "" {
				skipped++
				continue
			}
			inv.Packages = append(inv.Packages, p)
		}
		inv.Asset = Asset{Kind: KindSBOM, Name: def.Name, Criticality: def.Criticality, Tags: def.Tags}
	} else {
		var up Upload
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&up); err != nil {
			return inv, 0, fmt.Errorf("%w: invalid upload: %w", ErrInvalid, err)
		}
		if dec.More() {
			return inv, 0, fmt.Errorf("%w: invalid upload: more than one JSON value", ErrInvalid)
		}
		if up.Packages == nil {
			return inv, 0, fmt.Errorf("%w: invalid upload: no packages list (an empty list says the asset has none)", ErrInvalid)
		}
		a := up.Asset
		if a.Name == "" {
			a.Name = def.Name
		}
		if a.Criticality == "" {
			a.Criticality = def.Criticality
		}
		if a.Tags == nil {
			a.Tags = def.Tags
		}
		for _, n := range up.Skipped {
			skipped += max(n, 0)
		}
		inv.Asset = Asset{Kind: KindScan, Name: a.Name, Criticality: a.Criticality, Tags: a.Tags}
		inv.Packages = up.Packages
	}
	if len(inv.Packages) > packageLimit {
		return inv, 0, fmt.Errorf("%w: %d packages, at most %d per upload", ErrInvalid, len(inv.Packages), packageLimit)
	}
	for i := range inv.Packages {
		if err := checkPackage(&inv.Packages[i]); err != nil {
			return inv, 0, fmt.Errorf("%w: package %d: %w", ErrInvalid, i, err)
		}
	}
	if err := inv.Asset.Normalize(); err != nil {
		return inv, 0, err
	}
	return inv, skipped, nil
}

// checkPackage bounds an uploaded package's fields.
func checkPackage(p *scan.Package) error {
	var errs []error
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"ecosystem", p.Ecosystem, maxEcosystemLen}, {"name", p.Name, maxPackageLen}, {"version", p.Version, maxVersionLen},
		{"source", p.Source, maxPackageLen}, {"source_version", p.SourceVersion, maxVersionLen},
		{"location", p.Location, maxLocationLen}, {"kind", p.Kind, maxKindLen}, {"state", p.State, maxKindLen},
	} {
		if err := checkText(f.name, f.v, f.max); err != nil {
			errs = append(errs, err)
		}
	}
	if p.Name == "" || p.Ecosystem == "" {
		errs = append(errs, errors.New("ecosystem and name are required"))
	}
	return errors.Join(errs...)
}
