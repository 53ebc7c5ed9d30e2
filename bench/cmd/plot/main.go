// Command plot draws results/scale.png from the figures the benchmarks
// recorded: quiet bytes per peer per second and crash detection time
// against N, for each system, on loopback (bench's results/loopback.json,
// written by BenchmarkCompare*) and in the simulator (results/sim.json,
// written by the engine's BenchmarkSimScale with SIM_SCALE_OUT). Run from
// bench/:
//
//	go run ./cmd/plot [-loopback results/loopback.json] [-sim results/sim.json] [-out results/scale.png]
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io/fs"
	"log"
	"os"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/telepathine/telepathine/bench"
)

// simResult is the part of the simulator's results the plot reads.
type simResult struct {
	N        int     `json:"n"`
	QuietBps float64 `json:"quiet_bytes_per_peer_sec"`
	DetectMS float64 `json:"detect_ms"`
}

// series is one line of a panel: a name and points sorted by N.
type series struct {
	name string
	xys  plotter.XYs
}

func main() {
	loopback := flag.String("loopback", bench.ResultsFile, "results of the loopback benchmarks")
	sim := flag.String("sim", "results/sim.json", "results of the simulator (engine BenchmarkSimScale)")
	out := flag.String("out", "results/scale.png", "the PNG to write")
	flag.Parse()
	if err := run(*loopback, *sim, *out); err != nil {
		log.Fatal(err)
	}
}

func run(loopbackPath, simPath, out string) error {
	lb, err := bench.ReadResults(loopbackPath)
	if err != nil {
		return fmt.Errorf("%s: %w", loopbackPath, err)
	}
	var sims []simResult
	switch data, err := os.ReadFile(simPath); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(data, &sims); err != nil {
			return fmt.Errorf("%s: %w", simPath, err)
		}
	}
	quiet := collect(lb, sims, "quiet_B/s/peer", func(s simResult) float64 { return s.QuietBps })
	detect := collect(lb, sims, "detect_ms", func(s simResult) float64 { return s.DetectMS / 1000 })
	for i := range detect { // the loopback figures are in ms
		if detect[i].name != "telepathine (simulator)" {
			for j := range detect[i].xys {
				detect[i].xys[j].Y /= 1000
			}
		}
	}
	qp, err := panel("Quiet traffic", "bytes sent per peer per second", quiet)
	if err != nil {
		return err
	}
	dp, err := panel("Crash declared dead by all", "seconds (median)", detect)
	if err != nil {
		return err
	}
	const w, h = 26 * vg.Centimeter, 11 * vg.Centimeter
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Centimeter, PadTop: vg.Millimeter * 4,
		PadBottom: vg.Millimeter * 4, PadLeft: vg.Millimeter * 4, PadRight: vg.Millimeter * 4}
	plots := [][]*plot.Plot{{qp, dp}}
	canvases := plot.Align(plots, tiles, dc)
	qp.Draw(canvases[0][0])
	dp.Draw(canvases[0][1])
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// collect builds one series per system from the loopback results (metric)
// and one from the simulator (simY).
func collect(lb []bench.Result, sims []simResult, metric string, simY func(simResult) float64) []series {
	by := map[string]plotter.XYs{}
	for _, r := range lb {
		// A run that hit its deadline has no figure, only the deadline:
		// left out rather than drawn as if measured.
		if r.Metrics["detect_incomplete"] > 0 && metric == "detect_ms" {
			continue
		}
		if v, ok := r.Metrics[metric]; ok && v > 0 {
			name := r.System + " (loopback)"
			by[name] = append(by[name], plotter.XY{X: float64(r.N), Y: v})
		}
	}
	for _, s := range sims {
		if v := simY(s); v > 0 {
			by["telepathine (simulator)"] = append(by["telepathine (simulator)"], plotter.XY{X: float64(s.N), Y: v})
		}
	}
	names := make([]string, 0, len(by))
	for k := range by {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]series, 0, len(names))
	for _, k := range names {
		xys := by[k]
		sort.Slice(xys, func(i, j int) bool { return xys[i].X < xys[j].X })
		out = append(out, series{k, xys})
	}
	return out
}

// styles keeps one colour and glyph per series across both panels.
var styles = map[string]struct {
	c     color.Color
	shape draw.GlyphDrawer
	dash  bool
}{
	"memberlist (loopback)":   {color.RGBA{R: 200, G: 40, B: 40, A: 255}, draw.CircleGlyph{}, false},
	"telepathine (loopback)":  {color.RGBA{G: 110, B: 200, A: 255}, draw.SquareGlyph{}, false},
	"telepathine (simulator)": {color.RGBA{G: 110, B: 200, A: 255}, draw.TriangleGlyph{}, true},
}

// panel is one plot: N on a log axis from 16 to 4,096, one line with
// points per series, and headroom above the highest point for the legend.
func panel(title, ylabel string, ss []series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "peers (N), log scale"
	p.Y.Label.Text = ylabel
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.ConstantTicks(nTicks())
	p.X.Min, p.X.Max = 12, 5500
	p.Y.Min = 0
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.Padding = vg.Millimeter
	p.Add(plotter.NewGrid())
	top := 0.0
	for _, s := range ss {
		line, points, err := plotter.NewLinePoints(s.xys)
		if err != nil {
			return nil, err
		}
		st, ok := styles[s.name]
		if !ok {
			st = styles["telepathine (loopback)"]
			st.c = color.Gray{Y: 100}
		}
		line.Color, points.Color, points.Shape = st.c, st.c, st.shape
		points.Radius = vg.Millimeter * 1.2
		if st.dash {
			line.Dashes = []vg.Length{vg.Millimeter * 2, vg.Millimeter}
		}
		p.Add(line, points)
		p.Legend.Add(s.name, line, points)
		for _, xy := range s.xys {
			top = max(top, xy.Y)
		}
	}
	p.Y.Max = top * 1.45
	return p, nil
}

// nTicks marks the sizes measured.
func nTicks() []plot.Tick {
	var ts []plot.Tick
	for _, n := range []int{16, 64, 256, 1024, 4096} {
		ts = append(ts, plot.Tick{Value: float64(n), Label: fmt.Sprint(n)})
	}
	return ts
}
