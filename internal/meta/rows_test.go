package meta

import "testing"

func TestInsertRows(t *testing.T) {
	for _, tt := range []struct {
		n, cols int
		want    string
	}{
		{1, 1, "INSERT INTO t (a) VALUES (?) ON CONFLICT DO NOTHING"},
		{2, 3, "INSERT INTO t (a) VALUES (?, ?, ?), (?, ?, ?) ON CONFLICT DO NOTHING"},
	} {
		if got := InsertRows("INSERT INTO t (a) VALUES ", tt.n, tt.cols, " ON CONFLICT DO NOTHING"); got != tt.want {
			t.Errorf("InsertRows(%d, %d): got %q, want %q", tt.n, tt.cols, got, tt.want)
		}
	}
}
