package evtx

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"strconv"
	"testing"
)

// TestTreeAndXMLOnCorpus checks the tree accessors and the XML rendering
// of every sample record against its JSON rendering.
func TestTreeAndXMLOnCorpus(t *testing.T) {
	n := 0
	for _, path := range sampleFiles(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		err = f.Records(func(r *Record) error {
			n++
			var doc struct {
				Event struct {
					System struct {
						EventRecordID uint64
						Computer      string
						Provider      struct {
							Attrs struct{ Name string } `json:"#attributes"`
						}
					}
					EventData map[string]any
				}
			}
			if err := json.Unmarshal(r.AppendJSON(nil), &doc); err != nil {
				t.Fatalf("%s record %d: %v", path, r.ID, err)
			}
			ev := r.Event()
			if got := ev.Name(); got != "Event" {
				t.Errorf("%s: got root %q, want Event", path, got)
			}
			sys := ev.Child("System")
			id, ok := sys.Child("EventRecordID").Text().Int()
			if !ok || uint64(id) != doc.Event.System.EventRecordID {
				t.Errorf("%s: got EventRecordID %d (%v), want %d", path, id, ok, doc.Event.System.EventRecordID)
			}
			if got := sys.Child("Computer").Text().String(); got != doc.Event.System.Computer {
				t.Errorf("%s: got Computer %q, want %q", path, got, doc.Event.System.Computer)
			}
			if v, ok := sys.Child("Provider").Attr("Name"); !ok || v.String() != doc.Event.System.Provider.Attrs.Name {
				t.Errorf("%s: got Provider Name %q, want %q", path, v.String(), doc.Event.System.Provider.Attrs.Name)
			}
			for d := range ev.Child("EventData").Children() {
				name, _ := d.Attr("Name")
				want, ok := doc.Event.EventData[name.String()]
				if !ok {
					t.Errorf("%s: EventData %q missing from the JSON", path, name.String())
					continue
				}
				got := d.Text()
				if got.IsNumber() {
					if n, _ := got.Int(); strconv.FormatInt(n, 10) != jsonText(want) {
						t.Errorf("%s: EventData %q got %d, want %v", path, name.String(), n, want)
					}
				}
			}
			// The XML must be well formed and hold the same computer name.
			dec := xml.NewDecoder(bytes.NewReader(r.AppendXML(nil)))
			inComputer, computer := false, ""
			for {
				tok, err := dec.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s record %d: XML: %v\n%s", path, r.ID, err, r.AppendXML(nil))
				}
				switch tok := tok.(type) {
				case xml.StartElement:
					inComputer = tok.Name.Local == "Computer"
				case xml.CharData:
					if inComputer {
						computer += string(tok)
					}
				case xml.EndElement:
					inComputer = false
				}
			}
			if computer != doc.Event.System.Computer {
				t.Errorf("%s: XML Computer %q, want %q", path, computer, doc.Event.System.Computer)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
	t.Logf("checked %d records", n)
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestXMLStructure(t *testing.T) {
	data := buildFile(func(x *bx) {
		x.open("Event", true)
		x.attr("a")
		x.text(`x"<y>&`)
		x.closeStart()
		x.open("Empty", false)
		x.closeEmpty()
		x.text("t")
		x.entityRef("amp")
		x.charRef('<')
		x.end()
	})
	f, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := f.Records(func(r *Record) error { got = string(r.AppendXML(nil)); return nil }); err != nil {
		t.Fatal(err)
	}
	want := `<Event a="x&quot;&lt;y&gt;&amp;"><Empty/>t&amp;&lt;</Event>`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
