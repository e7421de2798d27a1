package evtx

import (
	"errors"
	"testing"
)

// capi2Body writes a record the way Windows writes some CAPI2 events:
// elements of the record itself, outside any template, so that their
// open start element headers have no dependency id.
func capi2Body(x *bx) {
	x.fragment()
	x.open("Event", true)
	x.attr("xmlns")
	x.text("http://schemas.microsoft.com/win/2004/08/events/event")
	x.closeStart()
	x.open("System", false)
	x.closeStart()
	x.open("Provider", true)
	x.attr("Name")
	x.text("Microsoft-Windows-CAPI2")
	x.closeEmpty()
	x.open("EventID", false)
	x.closeStart()
	x.text("11")
	x.end()
	x.open("Channel", false)
	x.closeStart()
	x.text("Microsoft-Windows-CAPI2/Operational")
	x.end()
	x.end()
	x.open("UserData", false)
	x.closeStart()
	x.open("CertGetCertificateChain", false)
	x.closeStart()
	x.open("Certificate", true)
	x.attr("subjectName")
	x.text("www.example.com")
	x.closeEmpty()
	x.end()
	x.end()
	x.end()
	x.eof()
}

const capi2JSON = `{"Event":{"#attributes":{"xmlns":"http://schemas.microsoft.com/win/2004/08/events/event"},"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-CAPI2"}},"EventID":"11","Channel":"Microsoft-Windows-CAPI2/Operational"},"UserData":{"CertGetCertificateChain":{"Certificate":{"#attributes":{"subjectName":"www.example.com"}}}}}}`

// TestOpenStartForms covers both forms of the open start element header:
// with a dependency id (template definitions) and without (elements of the
// record itself and of BinXML substitution values).
func TestOpenStartForms(t *testing.T) {
	tests := []struct {
		name  string
		build func(x *bx)
		want  string
	}{
		{"record elements without dependency id", capi2Body, capi2JSON},
		{"record elements with dependency id", func(x *bx) { x.depOutside = true; capi2Body(x) }, capi2JSON},
		{
			name: "template elements with, nested BinXML elements without",
			build: func(x *bx) {
				x.fragment()
				x.template(func(x *bx) {
					x.open("Event", false)
					x.closeStart()
					x.open("UserData", false)
					x.closeStart()
					x.subst(0, vBinXML, false)
					x.end()
					x.end()
				}, []sub{{nested: func(x *bx) {
					x.fragment()
					x.open("Op", true)
					x.attr("k")
					x.text("v")
					x.closeStart()
					x.text("t")
					x.end()
					x.eof()
				}}})
				x.eof()
			},
			want: `{"Event":{"UserData":{"Op":{"#attributes":{"k":"v"},"#text":"t"}}}}`,
		},
		{
			name: "record element around a template instance",
			build: func(x *bx) {
				x.fragment()
				x.open("Event", false)
				x.closeStart()
				x.template(func(x *bx) {
					x.open("System", false)
					x.closeStart()
					x.open("EventID", false)
					x.closeStart()
					x.subst(0, vUint16, false)
					x.end()
					x.end()
				}, []sub{{typ: vUint16, data: le16(4688)}})
				x.end()
				x.eof()
			},
			want: `{"Event":{"System":{"EventID":4688}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, errs := readAll(t, buildFile(tt.build))
			if len(errs) > 0 {
				t.Fatalf("got errors %v", errs)
			}
			if len(recs) != 1 {
				t.Fatalf("got %d records, want 1", len(recs))
			}
			if recs[0] != tt.want {
				t.Errorf("got %s, want %s", recs[0], tt.want)
			}
		})
	}
}

// TestOpenStartTruncated: a header cut short is an error in either form.
func TestOpenStartTruncated(t *testing.T) {
	for _, tt := range []struct {
		name  string
		build func(x *bx)
	}{
		{"outside a template", func(x *bx) { x.fragment(); x.u8(tokOpenStart); x.u32(0); x.u16(0) }},
		{"inside a template", func(x *bx) {
			x.fragment()
			x.template(func(x *bx) { x.u8(tokOpenStart); x.u16(0xffff); x.u32(0); x.u16(0) }, nil)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := &parser{}
			x := &bx{base: chunkHdrSize}
			tt.build(x)
			buf := make([]byte, chunkHdrSize+len(x.b))
			copy(buf[chunkHdrSize:], x.b)
			p.resetChunk(buf)
			_, err := p.parseRecord(chunkHdrSize, len(buf))
			if !errors.Is(err, errTruncated) {
				t.Errorf("got %v, want %v", err, errTruncated)
			}
		})
	}
}
