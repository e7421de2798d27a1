//go:build ignore

// gen_favicon draws the console's icon, static/favicon.ico: the shapes of
// static/favicon.svg (a blue rounded square holding a white eye), sampled
// 4×4 per pixel at 16 and 32 pixels, each size a PNG inside the ICO
// container. Run it with `go generate ./internal/web`.
package main

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
)

var (
	blue = color.NRGBA{0x1f, 0x5f, 0xbf, 0xff}
	dark = color.NRGBA{0x0f, 0x14, 0x1a, 0xff}
	whit = color.NRGBA{0xff, 0xff, 0xff, 0xff}
)

// paint returns the colour at (x, y) of the 32×32 design, and whether
// anything is drawn there.
func paint(x, y float64) (color.NRGBA, bool) {
	// The rounded square: 32×32, corner radius 7.
	const r = 7.0
	cx, cy := math.Max(r, math.Min(32-r, x)), math.Max(r, math.Min(32-r, y))
	if (x-cx)*(x-cx)+(y-cy)*(y-cy) > r*r {
		return color.NRGBA{}, false
	}
	d2 := (x-16)*(x-16) + (y-16)*(y-16)
	switch {
	case d2 <= 2*2:
		return dark, true
	case d2 <= 5*5:
		return blue, true
	}
	// The eye: the lens between two circles of radius 16 whose centres
	// are 10.5 above and below the middle (the SVG's two arcs).
	in := func(oy float64) bool { return (x-16)*(x-16)+(y-oy)*(y-oy) <= 16*16 }
	if in(16+10.5) && in(16-10.5) {
		return whit, true
	}
	return blue, true
}

func draw(size int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	const n = 4 // samples per pixel side
	scale := 32 / float64(size)
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var r, g, b, a float64
			for sy := 0; sy < n; sy++ {
				for sx := 0; sx < n; sx++ {
					x := (float64(px) + (float64(sx)+0.5)/n) * scale
					y := (float64(py) + (float64(sy)+0.5)/n) * scale
					c, ok := paint(x, y)
					if !ok {
						continue
					}
					r, g, b, a = r+float64(c.R), g+float64(c.G), b+float64(c.B), a+1
				}
			}
			if a == 0 {
				continue
			}
			img.SetNRGBA(px, py, color.NRGBA{uint8(r / a), uint8(g / a), uint8(b / a), uint8(255 * a / (n * n))})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}

func main() {
	sizes := []int{16, 32}
	var pngs [][]byte
	for _, s := range sizes {
		pngs = append(pngs, draw(s))
	}
	var out bytes.Buffer
	le := func(v any) { binary.Write(&out, binary.LittleEndian, v) }
	// ICONDIR, then one ICONDIRENTRY per image, then the images.
	le(uint16(0))
	le(uint16(1)) // icon
	le(uint16(len(sizes)))
	off := 6 + 16*len(sizes)
	for i, s := range sizes {
		out.WriteByte(byte(s))
		out.WriteByte(byte(s))
		out.WriteByte(0) // no palette
		out.WriteByte(0)
		le(uint16(1))  // colour planes
		le(uint16(32)) // bits per pixel
		le(uint32(len(pngs[i])))
		le(uint32(off))
		off += len(pngs[i])
	}
	for _, p := range pngs {
		out.Write(p)
	}
	if err := os.WriteFile("static/favicon.ico", out.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
