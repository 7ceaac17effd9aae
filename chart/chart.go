// Package chart draws the dashboard's charts as self-contained SVG on the
// server: no script, no external file, nothing for a content security
// policy to allow. Each function returns one <svg> element sized by its
// viewBox (it scales to its container) with a <title> and a <desc> that
// read the numbers out for screen readers. Text is escaped.
package chart

import (
	"fmt"
	"html"
	"math"
	"strings"
	"time"
)

// Size of every chart, in SVG user units.
const (
	Width  = 640
	Height = 260
	padL   = 48
	padR   = 16
	padT   = 36
	padB   = 48
)

// Bar is one labelled value.
type Bar struct {
	Label string
	Value float64
	Color string // "" for the default
}

// Series is one named line or stack.
type Series struct {
	Name   string
	Color  string
	Values []float64
}

// DefaultColor is the colour of bars without one: the web UI's accent.
const DefaultColor = "#3451b2"

func esc(s string) string { return html.EscapeString(s) }

func open(b *strings.Builder, title, desc string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" font-family="system-ui, sans-serif" font-size="12">`, Width, Height)
	fmt.Fprintf(b, `<title>%s</title><desc>%s</desc>`, esc(title), esc(desc))
	fmt.Fprintf(b, `<text x="%d" y="20" font-size="14" font-weight="600">%s</text>`, padL, esc(title))
}

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten, so that
// the axis reads well.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func num(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// countTop is the top of a count axis holding v and how many intervals
// divide it into whole numbers: up to 4 counts one per tick (1 → 0, 1);
// above, niceMax's 5, 10, 20, 50… in 4 or 5 equal whole steps. Counts are
// never ticked 1.2 / 2.5 / 3.8.
func countTop(v float64) (top float64, steps int) {
	if v <= 4 {
		top = math.Max(1, math.Ceil(v))
		return top, int(top)
	}
	top = niceMax(v)
	for _, n := range []int{5, 4, 2} {
		if step := top / float64(n); step == math.Trunc(step) {
			return top, n
		}
	}
	return top, 1
}

func axis(b *strings.Builder, top float64, steps int) {
	plotH := float64(Height - padT - padB)
	for i := 0; i <= steps; i++ {
		v := top * float64(i) / float64(steps)
		y := float64(Height-padB) - plotH*float64(i)/float64(steps)
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, padL, Width-padR, y, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" fill="#555">%s</text>`, padL-6, y+4, num(v))
	}
}

// Bars draws vertical bars, one per label, with their values on top.
func Bars(title string, bars []Bar) string {
	var b strings.Builder
	var desc []string
	top := 0.0
	for _, x := range bars {
		top = math.Max(top, x.Value)
		desc = append(desc, fmt.Sprintf("%s: %s", x.Label, num(x.Value)))
	}
	open(&b, title, strings.Join(desc, "; "))
	top, steps := countTop(top)
	axis(&b, top, steps)
	if len(bars) == 0 {
		empty(&b)
	} else {
		plotW := float64(Width - padL - padR)
		plotH := float64(Height - padT - padB)
		slot := plotW / float64(len(bars))
		w := slot * 0.7
		for i, x := range bars {
			h := plotH * x.Value / top
			cx := float64(padL) + slot*float64(i) + slot/2
			color := x.Color
			if color == "" {
				color = DefaultColor
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>`,
				cx-w/2, float64(Height-padB)-h, w, h, esc(color), esc(x.Label), num(x.Value))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, cx, float64(Height-padB)-h-4, num(x.Value))
			// A label too long for its slot is shortened; the whole name is
			// its tooltip (and in the chart's description).
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#333"><title>%s</title>%s</text>`, cx, Height-padB+16,
				esc(x.Label), esc(shorten(x.Label, int(slot/7))))
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// Lines draws series over time, with a legend.
func Lines(title string, at []time.Time, series []Series) string {
	var b strings.Builder
	top := 0.0
	var desc []string
	for _, s := range series {
		last := 0.0
		for _, v := range s.Values {
			top = math.Max(top, v)
			last = v
		}
		desc = append(desc, fmt.Sprintf("%s: peak %s, last %s", s.Name, num(maxOf(s.Values)), num(last)))
	}
	open(&b, title, strings.Join(desc, "; "))
	top, steps := countTop(top)
	axis(&b, top, steps)
	if len(at) < 2 {
		empty(&b)
		b.WriteString(`</svg>`)
		return b.String()
	}
	plotW := float64(Width - padL - padR)
	plotH := float64(Height - padT - padB)
	t0, t1 := at[0], at[len(at)-1]
	span := t1.Sub(t0).Seconds()
	if span <= 0 {
		span = 1
	}
	x := func(t time.Time) float64 { return float64(padL) + plotW*t.Sub(t0).Seconds()/span }
	for _, s := range series {
		var pts []string
		for i, v := range s.Values {
			if i < len(at) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(at[i]), float64(Height-padB)-plotH*v/top))
			}
		}
		color := s.Color
		if color == "" {
			color = DefaultColor
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>`, esc(color), strings.Join(pts, " "), esc(s.Name))
	}
	layout := "Jan 2 15:04"
	if span > 3*24*3600 {
		layout = "Jan 2"
	}
	for i := 0; i <= 4; i++ {
		t := t0.Add(time.Duration(float64(t1.Sub(t0)) * float64(i) / 4))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#333">%s</text>`, x(t), Height-padB+16, esc(t.UTC().Format(layout)))
	}
	legend(&b, series)
	b.WriteString(`</svg>`)
	return b.String()
}

func legend(b *strings.Builder, series []Series) {
	lx := float64(padL)
	for _, s := range series {
		color := s.Color
		if color == "" {
			color = DefaultColor
		}
		fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="10" height="10" fill="%s"/><text x="%.1f" y="%d">%s</text>`,
			lx, Height-18, esc(color), lx+14, Height-9, esc(s.Name))
		lx += 24 + 7*float64(len(s.Name))
	}
}

func empty(b *strings.Builder) {
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" fill="#777">No data in this period</text>`, (Width+padL)/2, Height/2)
}

func maxOf(vs []float64) float64 {
	m := 0.0
	for _, v := range vs {
		m = math.Max(m, v)
	}
	return m
}

func shorten(s string, n int) string {
	r := []rune(s)
	if n < 4 {
		n = 4
	}
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
