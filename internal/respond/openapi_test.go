package respond

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goccy/go-yaml"
)

// TestOpenAPIActions keeps the API's contract (docs/openapi.yaml) equal to
// the registry: the actions a playbook step may take and those a person
// may run by hand.
func TestOpenAPIActions(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []Action `yaml:"enum"`
				} `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		schema, property string
		want             []Action
	}{
		{"PlaybookStep", "action", Actions()},
		{"ManualAction", "name", ManualActions()},
	}
	for _, tt := range tests {
		got := slices.Sorted(slices.Values(spec.Components.Schemas[tt.schema].Properties[tt.property].Enum))
		if !slices.Equal(got, tt.want) {
			t.Errorf("openapi.yaml %s.%s enum: got %v, want %v", tt.schema, tt.property, got, tt.want)
		}
	}
}
