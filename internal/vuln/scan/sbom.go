package scan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/vigilsec/vigil/internal/vuln/version"
)

// Bounds of one SBOM: its size is bounded by MaxFileBytes.
const (
	// MaxSBOMComponents bounds the components (packages) of one SBOM.
	MaxSBOMComponents = 200000
	// MaxSBOMDepth bounds how deep CycloneDX components nest.
	MaxSBOMDepth = 32
	// maxJSONDepth bounds the nesting of any JSON value in an SBOM,
	// checked before decoding (the components' depth is a part of it).
	maxJSONDepth = 4*MaxSBOMDepth + 32
)

// sbomComponentLimit is MaxSBOMComponents; tests lower it.
var sbomComponentLimit = MaxSBOMComponents

// The kinds of SBOM packages.
const (
	KindCycloneDX = "cyclonedx"
	KindSPDX      = "spdx"
)

// ErrNotSBOM is returned by ParseSBOM for a JSON document that is neither
// a CycloneDX nor an SPDX document.
var ErrNotSBOM = errors.New("not a CycloneDX or SPDX JSON document")

// isSBOMName says whether a file name is an SBOM's by convention.
func isSBOMName(base string) bool {
	b := strings.ToLower(base)
	return b == "bom.json" || strings.HasSuffix(b, ".cdx.json") || strings.HasSuffix(b, ".spdx.json")
}

// sbomHeader is what tells the formats apart.
type sbomHeader struct {
	BOMFormat   *string `json:"bomFormat"`
	SpecVersion string  `json:"specVersion"`
	SPDXVersion *string `json:"spdxVersion"`
}

// ParseSBOM reads the packages of a CycloneDX 1.4 to 1.6 or SPDX 2.2 or
// 2.3 JSON document. Each component's purl gives its ecosystem, name and
// version; components the scanner cannot match come back with Skipped
// set. location names the file in errors and, with the component's
// bom-ref or SPDXID after a '#', in the packages.
func ParseSBOM(data []byte, location string) ([]Package, error) {
	if err := checkJSONDepth(data, maxJSONDepth); err != nil {
		return nil, fmt.Errorf("%s: %w", location, err)
	}
	var h sbomHeader
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", location, ErrNotSBOM, err)
	}
	switch {
	case h.BOMFormat != nil:
		if *h.BOMFormat != "CycloneDX" {
			return nil, fmt.Errorf("%s: bomFormat %q: want CycloneDX", location, truncate(*h.BOMFormat, 40))
		}
		switch h.SpecVersion {
		case "1.4", "1.5", "1.6":
		default:
			return nil, fmt.Errorf("%s: CycloneDX specVersion %q: want 1.4, 1.5 or 1.6", location, truncate(h.SpecVersion, 40))
		}
		return parseCycloneDX(data, location)
	case h.SPDXVersion != nil:
		switch *h.SPDXVersion {
		case "SPDX-2.2", "SPDX-2.3":
		default:
			return nil, fmt.Errorf("%s: spdxVersion %q: want SPDX-2.3 (or SPDX-2.2)", location, truncate(*h.SPDXVersion, 40))
		}
		return parseSPDX(data, location)
	}
	return nil, fmt.Errorf("%s: %w (no bomFormat or spdxVersion)", location, ErrNotSBOM)
}

func parseCycloneDX(data []byte, location string) ([]Package, error) {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return nil, fmt.Errorf("%s: CycloneDX: %w", location, err)
	}
	var out []Package
	var visit func(cs *[]cdx.Component, depth int) error
	visit = func(cs *[]cdx.Component, depth int) error {
		if cs == nil {
			return nil
		}
		if depth > MaxSBOMDepth {
			return fmt.Errorf("%s: components nested more than %d deep", location, MaxSBOMDepth)
		}
		for i := range *cs {
			c := &(*cs)[i]
			if len(out) >= sbomComponentLimit {
				return fmt.Errorf("%s: more than %d components", location, sbomComponentLimit)
			}
			p := sbomPackage(c.PackageURL, c.Version, c.Name, c.BOMRef, location, KindCycloneDX)
			if kind, _ := version.ForEcosystem(p.Ecosystem); p.Source == "" && c.Properties != nil && (kind == version.Dpkg || kind == version.APK) {
				p.Source, p.SourceVersion = trivySource(*c.Properties)
			}
			out = append(out, p)
			if err := visit(c.Components, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(bom.Components, 1); err != nil {
		return nil, err
	}
	return out, nil
}

// spdxDocument is the part of an SPDX 2.3 JSON document that names
// packages.
type spdxDocument struct {
	Packages []struct {
		SPDXID       string `json:"SPDXID"`
		Name         string `json:"name"`
		VersionInfo  string `json:"versionInfo"`
		ExternalRefs []struct {
			Category string `json:"referenceCategory"`
			Type     string `json:"referenceType"`
			Locator  string `json:"referenceLocator"`
		} `json:"externalRefs"`
	} `json:"packages"`
}

func parseSPDX(data []byte, location string) ([]Package, error) {
	var doc spdxDocument
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: SPDX: %w", location, err)
	}
	if len(doc.Packages) > sbomComponentLimit {
		return nil, fmt.Errorf("%s: more than %d packages", location, sbomComponentLimit)
	}
	out := make([]Package, 0, len(doc.Packages))
	for _, p := range doc.Packages {
		var purl string
		for _, r := range p.ExternalRefs {
			if r.Type == "purl" {
				purl = r.Locator
				break
			}
		}
		out = append(out, sbomPackage(purl, p.VersionInfo, p.Name, p.SPDXID, location, KindSPDX))
	}
	return out, nil
}

// sbomPackage builds the package of one component. A component without a
// purl is skipped (its name alone does not say which ecosystem it is in).
func sbomPackage(purl, version, name, ref, location, kind string) Package {
	var p Package
	if purl == "" {
		p = Package{Name: name, Version: version, Skipped: "no purl"}
	} else {
		p = purlPackage(purl, version)
	}
	if p.Name == "" {
		p.Name = name
	}
	if ref == "" {
		ref = purl
	}
	p.Location = location + "#" + truncate(ref, 256)
	p.File = location
	p.Kind = kind
	return p
}

// checkJSONDepth fails when arrays and objects nest more than max deep,
// so that a hostile document is refused before the decoder recurses.
func checkJSONDepth(data []byte, max int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				return fmt.Errorf("JSON nested more than %d deep", max)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// trivySource reads the source package Trivy records in a CycloneDX
// component's properties (its deb purls carry no upstream qualifier):
// SrcName, and SrcEpoch, SrcVersion and SrcRelease making up the source
// version as dpkg writes it.
func trivySource(props []cdx.Property) (name, version string) {
	var epoch, ver, rel string
	for _, p := range props {
		switch p.Name {
		case "aquasecurity:trivy:SrcName":
			name = p.Value
		case "aquasecurity:trivy:SrcEpoch":
			epoch = p.Value
		case "aquasecurity:trivy:SrcVersion":
			ver = p.Value
		case "aquasecurity:trivy:SrcRelease":
			rel = p.Value
		}
	}
	if name == "" || ver == "" {
		return name, ""
	}
	version = ver
	if rel != "" {
		version += "-" + rel
	}
	if epoch != "" && epoch != "0" {
		version = epoch + ":" + version
	}
	return name, version
}
