package chart

import (
	"bufio"
	"errors"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

var sparks = []rune("▁▂▃▄▅▆▇█")

// Sparkline renders values in at most width cells, summing neighbouring
// values when there are more values than cells. Zero is a space, so idle
// periods stand out.
func Sparkline(values []int64, width int) string {
	if len(values) == 0 || width <= 0 {
		return ""
	}
	cells := values
	if len(values) > width {
		per := (len(values) + width - 1) / width
		cells = make([]int64, 0, width)
		for i := 0; i < len(values); i += per {
			var s int64
			for _, v := range values[i:min(i+per, len(values))] {
				s += v
			}
			cells = append(cells, s)
		}
	}
	var maxV int64
	for _, v := range cells {
		maxV = max(maxV, v)
	}
	var b strings.Builder
	for _, v := range cells {
		if v == 0 || maxV == 0 {
			b.WriteByte(' ')
			continue
		}
		i := int(float64(v) / float64(maxV) * float64(len(sparks)-1))
		b.WriteRune(sparks[i])
	}
	return b.String()
}

// Format of a chart file.
const (
	SVG = "svg"
	PNG = "png"
)

// FormatOf picks the format from a file name.
func FormatOf(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg":
		return SVG, nil
	case ".png":
		return PNG, nil
	}
	return "", fmt.Errorf("%s: want a .svg or .png file name", path)
}

// Series is one line.
type Series struct {
	Name   string
	Values []float64
}

// Chart is a line chart over time.
type Chart struct {
	Title  string
	YLabel string
	Start  time.Time
	Step   time.Duration
	Series []Series
	// Width and Height in pixels; defaults 1000x500.
	Width, Height int
}

// Palette is colour-blind friendly (Okabe-Ito).
var Palette = []color.RGBA{
	{0, 114, 178, 255}, {230, 159, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255},
	{86, 180, 233, 255}, {213, 94, 0, 255}, {240, 228, 66, 255}, {0, 0, 0, 255},
}

const (
	marginLeft   = 70
	marginRight  = 20
	marginTop    = 40
	marginBottom = 60
	legendWidth  = 260
)

type layout struct {
	w, h           int
	plotX0, plotX1 int
	plotY0, plotY1 int
	maxY           float64
	n              int
}

func (c *Chart) layout() (layout, error) {
	l := layout{w: c.Width, h: c.Height}
	if l.w == 0 {
		l.w = 1000
	}
	if l.h == 0 {
		l.h = 500
	}
	if len(c.Series) == 0 {
		return l, errors.New("no series to draw")
	}
	for _, s := range c.Series {
		l.n = max(l.n, len(s.Values))
		for _, v := range s.Values {
			l.maxY = math.Max(l.maxY, v)
		}
	}
	if l.n == 0 {
		return l, errors.New("series have no values")
	}
	l.maxY = niceCeil(l.maxY)
	l.plotX0, l.plotX1 = marginLeft, l.w-marginRight-legendWidth
	l.plotY0, l.plotY1 = marginTop, l.h-marginBottom
	return l, nil
}

func (l layout) x(i int) float64 {
	if l.n <= 1 {
		return float64(l.plotX0)
	}
	return float64(l.plotX0) + float64(i)*float64(l.plotX1-l.plotX0)/float64(l.n-1)
}

func (l layout) y(v float64) float64 {
	return float64(l.plotY1) - v/l.maxY*float64(l.plotY1-l.plotY0)
}

func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	exp := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*exp {
			return m * exp
		}
	}
	return 10 * exp
}

func (c *Chart) timeLabel(i int) string {
	t := c.Start.Add(time.Duration(i) * c.Step).UTC()
	if c.Step >= 24*time.Hour {
		return t.Format("2006-01-02")
	}
	if time.Duration(1)*c.Step*time.Duration(max(1, i)) > 24*time.Hour {
		return t.Format("01-02 15:04")
	}
	return t.Format("15:04:05")
}

// Render writes the chart in the given format.
func (c *Chart) Render(w io.Writer, format string) error {
	switch format {
	case SVG:
		return c.SVG(w)
	case PNG:
		return c.PNG(w)
	}
	return fmt.Errorf("unknown chart format %q", format)
}

// SVG writes the chart as an SVG document.
func (c *Chart) SVG(w io.Writer) error {
	l, err := c.layout()
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", l.w, l.h, l.w, l.h)
	fmt.Fprintf(bw, `<title>%s</title>`+"\n", html.EscapeString(c.Title))
	fmt.Fprintf(bw, `<rect width="%d" height="%d" fill="white"/>`+"\n", l.w, l.h)
	fmt.Fprintf(bw, `<text x="%d" y="24" font-size="16">%s</text>`+"\n", marginLeft, html.EscapeString(c.Title))
	for i := 0; i <= 4; i++ {
		v := l.maxY * float64(i) / 4
		y := l.y(v)
		fmt.Fprintf(bw, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", l.plotX0, y, l.plotX1, y)
		fmt.Fprintf(bw, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", l.plotX0-6, y+4, formatNum(v))
	}
	ticks := min(6, l.n)
	for k := 0; k < ticks; k++ {
		i := 0
		if ticks > 1 {
			i = k * (l.n - 1) / (ticks - 1)
		}
		x := l.x(i)
		fmt.Fprintf(bw, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999"/>`+"\n", x, l.plotY1, x, l.plotY1+5)
		fmt.Fprintf(bw, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, l.plotY1+20, c.timeLabel(i))
	}
	fmt.Fprintf(bw, `<text x="16" y="%d" transform="rotate(-90 16 %d)" text-anchor="middle">%s</text>`+"\n",
		(l.plotY0+l.plotY1)/2, (l.plotY0+l.plotY1)/2, html.EscapeString(c.YLabel))
	fmt.Fprintf(bw, `<text x="%d" y="%d" text-anchor="middle">time (UTC, per %s)</text>`+"\n", (l.plotX0+l.plotX1)/2, l.plotY1+45, c.Step)
	fmt.Fprintf(bw, `<polyline points="%d,%d %d,%d %d,%d" fill="none" stroke="#333"/>`+"\n", l.plotX0, l.plotY0, l.plotX0, l.plotY1, l.plotX1, l.plotY1)
	for si, s := range c.Series {
		col := Palette[si%len(Palette)]
		var pts strings.Builder
		for i, v := range s.Values {
			fmt.Fprintf(&pts, "%.1f,%.1f ", l.x(i), l.y(v))
		}
		fmt.Fprintf(bw, `<polyline class="series" data-name="%s" points="%s" fill="none" stroke="rgb(%d,%d,%d)" stroke-width="1.5"/>`+"\n",
			html.EscapeString(s.Name), strings.TrimSpace(pts.String()), col.R, col.G, col.B)
		ly := l.plotY0 + 10 + si*18
		lx := l.plotX1 + 20
		fmt.Fprintf(bw, `<rect x="%d" y="%d" width="12" height="12" fill="rgb(%d,%d,%d)"/>`+"\n", lx, ly-10, col.R, col.G, col.B)
		fmt.Fprintf(bw, `<text x="%d" y="%d">%s</text>`+"\n", lx+18, ly, html.EscapeString(truncate(s.Name, 36)))
	}
	fmt.Fprintln(bw, `</svg>`)
	return bw.Flush()
}

// PNG writes the chart as a PNG image.
func (c *Chart) PNG(w io.Writer) error {
	l, err := c.layout()
	if err != nil {
		return err
	}
	img := image.NewRGBA(image.Rect(0, 0, l.w, l.h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	grid := color.RGBA{221, 221, 221, 255}
	axis := color.RGBA{51, 51, 51, 255}
	text := func(x, y int, s string) {
		d := font.Drawer{Dst: img, Src: image.Black, Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	textRight := func(x, y int, s string) { text(x-7*len([]rune(s)), y, s) }
	text(marginLeft, 24, c.Title)
	for i := 0; i <= 4; i++ {
		v := l.maxY * float64(i) / 4
		y := int(l.y(v))
		line(img, l.plotX0, y, l.plotX1, y, grid)
		textRight(l.plotX0-6, y+4, formatNum(v))
	}
	ticks := min(6, l.n)
	for k := 0; k < ticks; k++ {
		i := 0
		if ticks > 1 {
			i = k * (l.n - 1) / (ticks - 1)
		}
		x := int(l.x(i))
		line(img, x, l.plotY1, x, l.plotY1+5, axis)
		lab := c.timeLabel(i)
		text(x-7*len(lab)/2, l.plotY1+20, lab)
	}
	text((l.plotX0+l.plotX1)/2-60, l.plotY1+45, "time (UTC, per "+c.Step.String()+")")
	text(4, l.plotY0-8, c.YLabel)
	line(img, l.plotX0, l.plotY0, l.plotX0, l.plotY1, axis)
	line(img, l.plotX0, l.plotY1, l.plotX1, l.plotY1, axis)
	for si, s := range c.Series {
		col := Palette[si%len(Palette)]
		for i := 1; i < len(s.Values); i++ {
			x0, y0 := int(l.x(i-1)), int(l.y(s.Values[i-1]))
			x1, y1 := int(l.x(i)), int(l.y(s.Values[i]))
			line(img, x0, y0, x1, y1, col)
			line(img, x0, y0+1, x1, y1+1, col)
		}
		if len(s.Values) == 1 {
			x, y := int(l.x(0)), int(l.y(s.Values[0]))
			draw.Draw(img, image.Rect(x-2, y-2, x+3, y+3), &image.Uniform{col}, image.Point{}, draw.Src)
		}
		ly := l.plotY0 + 10 + si*18
		lx := l.plotX1 + 20
		draw.Draw(img, image.Rect(lx, ly-10, lx+12, ly+2), &image.Uniform{col}, image.Point{}, draw.Src)
		text(lx+18, ly, truncate(s.Name, 32))
	}
	return png.Encode(w, img)
}

// line draws with Bresenham's algorithm.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func formatNum(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	if v >= 10 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
