//go:build ignore

// gen derives the ATT&CK table of package attack (data/enterprise.json)
// from the compact MITRE ATT&CK Enterprise export in ../shared/attack, and
// copies MITRE's licence and the version note beside it. Run it with
// `go generate ./internal/attack`.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

type source struct {
	Source  string `json:"source"`
	Tactics []struct {
		ID        string `json:"id"`
		Shortname string `json:"shortname"`
		Name      string `json:"name"`
		Order     int    `json:"order"`
	} `json:"tactics"`
	Techniques []struct {
		ID        string   `json:"id"`
		Name      string   `json:"name"`
		Tactics   []string `json:"tactics"`
		SubtechOf *string  `json:"subtechnique_of"`
		Platforms []string `json:"platforms"`
	} `json:"techniques"`
}

type tactic struct {
	ID    string `json:"id"`
	Short string `json:"short"`
	Name  string `json:"name"`
}

type technique struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Tactics []string `json:"tactics"`
	Parent  string   `json:"parent,omitempty"`
}

type table struct {
	Source     string      `json:"source"`
	Version    string      `json:"version"`
	Tactics    []tactic    `json:"tactics"`
	Techniques []technique `json:"techniques"`
}

func main() {
	dir := flag.String("in", "", "folder holding enterprise-attack-compact.json, LICENSE.txt and VERSION (default: shared/attack beside the repository)")
	flag.Parse()
	if *dir == "" {
		*dir = findShared()
	}
	if err := run(*dir, "data"); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// findShared walks up from the working directory to the repository's
// sibling shared/attack folder.
func findShared() string {
	wd, _ := os.Getwd()
	for d := wd; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "shared", "attack")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		if filepath.Dir(d) == d {
			return filepath.Join(wd, "shared", "attack")
		}
	}
}

func run(in, out string) error {
	data, err := os.ReadFile(filepath.Join(in, "enterprise-attack-compact.json"))
	if err != nil {
		return err
	}
	var src source
	if err := json.Unmarshal(data, &src); err != nil {
		return fmt.Errorf("reading the ATT&CK export: %w", err)
	}
	version, err := os.ReadFile(filepath.Join(in, "VERSION"))
	if err != nil {
		return err
	}
	lic, err := os.ReadFile(filepath.Join(in, "LICENSE.txt"))
	if err != nil {
		return err
	}
	sort.Slice(src.Tactics, func(i, j int) bool { return src.Tactics[i].Order < src.Tactics[j].Order })
	t := table{Source: src.Source, Version: string(version)}
	for _, ta := range src.Tactics {
		t.Tactics = append(t.Tactics, tactic{ID: ta.ID, Short: ta.Shortname, Name: ta.Name})
	}
	for _, te := range src.Techniques {
		x := technique{ID: te.ID, Name: te.Name, Tactics: te.Tactics}
		if te.SubtechOf != nil {
			x.Parent = *te.SubtechOf
		}
		t.Techniques = append(t.Techniques, x)
	}
	sort.Slice(t.Techniques, func(i, j int) bool { return t.Techniques[i].ID < t.Techniques[j].ID })
	b, err := json.MarshalIndent(t, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "enterprise.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "LICENSE.txt"), lic, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "VERSION"), version, 0o644)
}
