package ruleset

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/egress"
	"github.com/vigilsec/vigil/internal/sigma"
)

// Limits of a rule package download.
const (
	maxPackageBytes = 256 << 20
	maxRuleFile     = 4 << 20
	maxUnpacked     = 1 << 30
)

// UpdateResult describes an installed rule package.
type UpdateResult struct {
	Dir    string
	Files  int
	Rules  int
	Errors []error // rule files that did not parse (installed anyway, reported)
}

// maxRedirects is how many redirects a download follows (GitHub's release
// links redirect to their storage); each hop dials through the egress
// policy.
const maxRedirects = 10

// Update downloads a rule package (a zip archive such as SigmaHQ's release
// packages) from url and installs its .yml files in dest, replacing what was
// there only once the new set is unpacked and loads. Paths inside the
// archive that would escape dest are refused. The download, redirects
// included, goes through the egress policy (nil: the default policy, which
// refuses internal addresses).
func Update(ctx context.Context, policy *egress.Policy, url, dest string) (*UpdateResult, error) {
	client := policy.Client(egress.ClientOptions{Timeout: 10 * time.Minute, MaxRedirects: maxRedirects})
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, fmt.Errorf("rule package URL: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("downloading %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("downloading %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPackageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("downloading %s: %w", url, err)
	}
	if len(data) > maxPackageBytes {
		return nil, fmt.Errorf("downloading %s: package larger than %d MiB", url, maxPackageBytes>>20)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%s is not a zip archive: %w", url, err)
	}
	parent := filepath.Dir(dest)
	if err := os.MkdirAll(parent, 0o750); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, ".rules-update-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	res := &UpdateResult{Dir: dest}
	var unpacked int64
	for _, f := range zr.File {
		name := f.Name
		ext := strings.ToLower(path.Ext(name))
		if f.FileInfo().IsDir() || (ext != ".yml" && ext != ".yaml") {
			continue
		}
		clean := path.Clean("/" + name)[1:]
		if clean == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") || strings.Contains(name, `\`) {
			return nil, fmt.Errorf("rule package: refusing entry %q outside the package", name)
		}
		if f.UncompressedSize64 > maxRuleFile {
			return nil, fmt.Errorf("rule package: %s is larger than %d MiB", name, maxRuleFile>>20)
		}
		unpacked += int64(f.UncompressedSize64)
		if unpacked > maxUnpacked {
			return nil, errors.New("rule package unpacks to more than 1 GiB")
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("rule package: %s: %w", name, err)
		}
		body, err := io.ReadAll(io.LimitReader(rc, maxRuleFile+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("rule package: %s: %w", name, err)
		}
		if len(body) > maxRuleFile {
			return nil, fmt.Errorf("rule package: %s is larger than declared", name)
		}
		out := filepath.Join(tmp, filepath.FromSlash(clean))
		if err := os.MkdirAll(filepath.Dir(out), 0o750); err != nil {
			return nil, err
		}
		if err := os.WriteFile(out, body, 0o640); err != nil {
			return nil, err
		}
		res.Files++
	}
	if res.Files == 0 {
		return nil, fmt.Errorf("rule package %s holds no .yml rule files", url)
	}
	set, errs := sigma.LoadDir(tmp)
	res.Rules, res.Errors = len(set.Rules), errs
	if res.Rules == 0 {
		return nil, fmt.Errorf("rule package %s: no rule loads (%d errors)", url, len(errs))
	}
	old := dest + ".old"
	os.RemoveAll(old)
	if err := os.Rename(dest, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("replacing %s: %w", dest, err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		os.Rename(old, dest)
		return nil, fmt.Errorf("installing rules in %s: %w", dest, err)
	}
	os.RemoveAll(old)
	return res, nil
}
