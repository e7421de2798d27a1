package web

import (
	"errors"
	"net/http/httptest"
	"testing"
)

// TestBackKeepsTheMessageBeforeTheFragment: a message after "#" never
// reaches the server, so the page that follows an action would not show
// it.
func TestBackKeepsTheMessageBeforeTheFragment(t *testing.T) {
	for _, tc := range []struct {
		path, msg string
		err       error
		want      string
	}{
		{"/incidents/inc-1#comments", "Comment added.", nil, "/incidents/inc-1?msg=Comment+added.#comments"},
		{"/incidents/inc-1?tab=x#tasks", "Task added.", nil, "/incidents/inc-1?tab=x&msg=Task+added.#tasks"},
		{"/incidents/inc-1#tasks", "", errors.New("no such task"), "/incidents/inc-1?err=no+such+task#tasks"},
		{"/incidents", "Done.", nil, "/incidents?msg=Done."},
		{"/incidents/inc-1#", "Done.", nil, "/incidents/inc-1?msg=Done.#"},
	} {
		w := httptest.NewRecorder()
		back(w, httptest.NewRequest("POST", "/x", nil), tc.path, tc.msg, tc.err)
		if got := w.Header().Get("Location"); got != tc.want {
			t.Errorf("back(%q, %q, %v): Location %q, want %q", tc.path, tc.msg, tc.err, got, tc.want)
		}
		if w.Code != 303 {
			t.Errorf("back(%q): HTTP %d, want 303", tc.path, w.Code)
		}
	}
}
