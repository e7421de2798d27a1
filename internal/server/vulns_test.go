package server

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/agents"
	"github.com/vigilsec/vigil/internal/vuln/findings"
	"github.com/vigilsec/vigil/internal/vuln/scan"
)

type fakeAgents struct {
	list []agents.Agent
	pkgs map[string][]agents.Package
}

func (f fakeAgents) AgentsWithPackages(context.Context) ([]string, error) {
	var ids []string
	for _, a := range f.list {
		if f.pkgs[a.ID] != nil {
			ids = append(ids, a.ID)
		}
	}
	return ids, nil
}
func (f fakeAgents) List(context.Context) ([]agents.Agent, error) { return f.list, nil }
func (f fakeAgents) Packages(_ context.Context, id string) ([]agents.Package, error) {
	return f.pkgs[id], nil
}

func TestAgentInventories(t *testing.T) {
	src := agentInventories{fakeAgents{
		list: []agents.Agent{{ID: "a1", Hostname: "web-1"}, {ID: "a2", Hostname: "evil\x1b[2J"}, {ID: "a3", Hostname: "idle"}},
		pkgs: map[string][]agents.Package{
			"a1": {{Name: "libssl3", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12", Arch: "amd64", Source: "openssl", Kind: "dpkg", State: "installed"}},
			"a2": {{Name: "bash", Version: "5.2.15-2", Ecosystem: "Debian:12", Kind: "dpkg"}},
		},
	}}
	ctx := context.Background()
	assets, err := src.Assets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []findings.Asset{
		{ID: "agent:a1", Kind: "agent", Name: "web-1", Criticality: "medium", Tags: []string{}},
		// A hostname the findings refuse gives way to the agent's id.
		{ID: "agent:a2", Kind: "agent", Name: "a2", Criticality: "medium", Tags: []string{}},
	}
	if diff := cmp.Diff(want, assets); diff != "" {
		t.Errorf("assets (-want +got):\n%s", diff)
	}
	pkgs, err := src.Packages(ctx, assets[0])
	if err != nil {
		t.Fatal(err)
	}
	wantPkgs := []scan.Package{{Ecosystem: "Debian:12", Name: "libssl3", Version: "3.0.11-1~deb12u2", Source: "openssl",
		Kind: "dpkg", State: "installed", Location: "agent web-1"}}
	if diff := cmp.Diff(wantPkgs, pkgs); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
}
