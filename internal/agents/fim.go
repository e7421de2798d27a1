package agents

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/agent/fim"
	"github.com/vigilsec/vigil/internal/agentwire"
)

// maxChanged bounds the names in a fim event's changed list (there are
// nine).
const maxChanged = 9

var (
	fimActions  = map[string]string{fim.Created: "creation", fim.Modified: "change", fim.AttributesModified: "change", fim.Deleted: "deletion"}
	fimTriggers = map[string]bool{fim.TriggerRealtime: true, fim.TriggerScan: true, fim.TriggerRescan: true}
	fimOmitted  = map[string]bool{fim.OmitTooLarge: true, fim.OmitUnreadable: true, fim.OmitSymlink: true}
	fimChanged  = map[string]bool{"sha256": true, "size": true, "type": true, "target": true, "mode": true, "uid": true, "gid": true, "mtime": true, "inode": true}
)

// fimDoc checks a fim record's line (an agent's fim.Event in JSON, every
// value of which the agent chose) and returns the event as the JSON
// document the parsers store: ECS's event.* and file.* (the file after
// the change, or before it for a deletion), and the values before a
// change under vigil.fim.before.*.
func fimDoc(line []byte, at time.Time) ([]byte, error) {
	var ev fim.Event
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return nil, fmt.Errorf("fim event: %w", err)
	}
	if dec.More() {
		return nil, errors.New("fim event: more than one value")
	}
	evType, ok := fimActions[ev.Action]
	if !ok {
		return nil, fmt.Errorf("fim event: unknown action %q", ev.Action)
	}
	if !fimTriggers[ev.Trigger] {
		return nil, fmt.Errorf("fim event: unknown trigger %q", ev.Trigger)
	}
	if err := checkFIMPath("path", ev.Path); err != nil {
		return nil, err
	}
	if ev.Path == "" {
		return nil, errors.New("fim event: no path")
	}
	switch {
	case ev.Action == fim.Created && (ev.Before != nil || ev.After == nil),
		ev.Action == fim.Deleted && (ev.Before == nil || ev.After != nil),
		(ev.Action == fim.Modified || ev.Action == fim.AttributesModified) && (ev.Before == nil || ev.After == nil):
		return nil, fmt.Errorf("fim event: %s with the wrong states before and after", ev.Action)
	}
	for _, st := range []*fim.State{ev.Before, ev.After} {
		if err := checkFIMState(st); err != nil {
			return nil, err
		}
	}
	if len(ev.Changed) > maxChanged {
		return nil, fmt.Errorf("fim event: more than %d changes", maxChanged)
	}
	seen := map[string]bool{}
	changed := ""
	for _, c := range ev.Changed {
		if !fimChanged[c] || seen[c] {
			return nil, fmt.Errorf("fim event: unknown or repeated change %q", c)
		}
		seen[c] = true
		if changed != "" {
			changed += ","
		}
		changed += c
	}
	doc := fimDocument{Timestamp: at.UTC().Format(time.RFC3339Nano), Message: "file " + ev.Action + ": " + ev.Path}
	doc.Event = fimEventFields{Kind: "event", Module: "fim", Dataset: "fim", Category: "file", Type: evType, Action: ev.Action}
	doc.Vigil.FIM.Trigger, doc.Vigil.FIM.Changed = ev.Trigger, changed
	cur := ev.After
	if ev.Action == fim.Deleted {
		cur = ev.Before
	} else if ev.Before != nil {
		doc.Vigil.FIM.Before = fileFields(ev.Before)
	}
	doc.File = *fileFields(cur)
	doc.File.Path, doc.File.Name, doc.File.Directory = ev.Path, path.Base(ev.Path), path.Dir(ev.Path)
	doc.Vigil.FIM.HashOmitted = cur.HashOmitted
	out, err := json.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("fim event: %w", err)
	}
	return out, nil
}

func checkFIMPath(name, p string) error {
	if len(p) > agentwire.MaxPath {
		return fmt.Errorf("fim event: %s longer than %d bytes", name, agentwire.MaxPath)
	}
	if !utf8.ValidString(p) {
		return fmt.Errorf("fim event: %s not UTF-8", name)
	}
	for _, c := range p {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("fim event: %s with a control character", name)
		}
	}
	return nil
}

func checkFIMState(st *fim.State) error {
	if st == nil {
		return nil
	}
	if st.Type != fim.TypeFile && st.Type != fim.TypeSymlink {
		return fmt.Errorf("fim event: unknown file type %q", st.Type)
	}
	if st.Size < 0 || st.Mode > 0o7777 {
		return errors.New("fim event: negative size or mode past 07777")
	}
	if st.SHA256 == "" {
		if !fimOmitted[st.HashOmitted] {
			return fmt.Errorf("fim event: no sha256 and no reason (%q)", st.HashOmitted)
		}
	} else if st.HashOmitted != "" || !isHexLower(st.SHA256, 64) {
		return errors.New("fim event: sha256 not 64 lowercase hex digits")
	}
	return checkFIMPath("target", st.Target)
}

func isHexLower(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

type fimDocument struct {
	Timestamp string         `json:"@timestamp"`
	Message   string         `json:"message"`
	Event     fimEventFields `json:"event"`
	File      fimFileFields  `json:"file"`
	Vigil     struct {
		FIM struct {
			Trigger     string         `json:"trigger"`
			Changed     string         `json:"changed,omitempty"`
			HashOmitted string         `json:"hash_omitted,omitempty"`
			Before      *fimFileFields `json:"before,omitempty"`
		} `json:"fim"`
	} `json:"vigil"`
}

type fimEventFields struct {
	Kind     string `json:"kind"`
	Module   string `json:"module"`
	Dataset  string `json:"dataset"`
	Category string `json:"category"`
	Type     string `json:"type"`
	Action   string `json:"action"`
}

// fimFileFields are ECS's file.* (uid, gid, inode and mode as strings,
// mode in octal, mtime in RFC 3339).
type fimFileFields struct {
	Path      string `json:"path,omitempty"`
	Name      string `json:"name,omitempty"`
	Directory string `json:"directory,omitempty"`
	Type      string `json:"type"`
	Size      int64  `json:"size"`
	Mode      string `json:"mode"`
	UID       string `json:"uid"`
	GID       string `json:"gid"`
	Mtime     string `json:"mtime"`
	Inode     string `json:"inode"`
	Hash      *struct {
		SHA256 string `json:"sha256"`
	} `json:"hash,omitempty"`
	TargetPath string `json:"target_path,omitempty"`
}

func fileFields(st *fim.State) *fimFileFields {
	f := &fimFileFields{Type: st.Type, Size: st.Size, Mode: fmt.Sprintf("%04o", st.Mode), UID: strconv.FormatUint(uint64(st.UID), 10),
		GID: strconv.FormatUint(uint64(st.GID), 10), Mtime: time.Unix(0, st.Mtime).UTC().Format(time.RFC3339Nano),
		Inode: strconv.FormatUint(st.Inode, 10), TargetPath: st.Target}
	if st.SHA256 != "" {
		f.Hash = &struct {
			SHA256 string `json:"sha256"`
		}{st.SHA256}
	}
	return f
}
