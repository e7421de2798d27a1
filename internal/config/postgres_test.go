package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPostgresKey: the metadata's PostgreSQL DSN comes from the file
// (postgres) or the environment (VIGIL_POSTGRES), defaults to none, and a
// DSN that does not parse is refused without showing its password.
func TestPostgresKey(t *testing.T) {
	if d := Default().Postgres; d != "" {
		t.Errorf("default: got %q, want none (meta.db)", d)
	}
	path := filepath.Join(t.TempDir(), "vigil.yml")
	if err := os.WriteFile(path, []byte("postgres: postgres://vigil:from-file@db/vigil\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file string
		env        []string
		want       string
		wantErr    bool
	}{
		{"file", path, nil, "postgres://vigil:from-file@db/vigil", false},
		{"environment over file", path, []string{"VIGIL_POSTGRES=host=db user=vigil password=s3cret dbname=vigil"}, "host=db user=vigil password=s3cret dbname=vigil", false},
		{"not a DSN", "", []string{"VIGIL_POSTGRES=postgres://vigil:s3cret@db:notaport/vigil"}, "postgres://vigil:s3cret@db:notaport/vigil", true},
		{"bad key=value", "", []string{"VIGIL_POSTGRES=host=db password=s3cret port=x"}, "host=db password=s3cret port=x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.file, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Postgres != tt.want {
				t.Errorf("postgres: got %q, want %q", c.Postgres, tt.want)
			}
			err = c.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate: got %v, want error %v", err, tt.wantErr)
			}
			if err != nil && (!strings.Contains(err.Error(), "postgres:") || strings.Contains(err.Error(), "s3cret")) {
				t.Errorf("Validate: got %q, want a postgres: error without the password", err)
			}
		})
	}
}
