package pipeline

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// MatrixAxis is one dimension of a job's matrix: a variable and the values
// it takes. Its name is an environment variable name, the same on both CIs:
// GitLab's parallel:matrix sets it in each cell's environment, GitHub's
// strategy.matrix key of the same name reaches the step's environment.
type MatrixAxis struct {
	// Name is the variable, such as GO_VERSION.
	Name string
	// Values are the values, in order.
	Values []string
}

// Axis returns a matrix axis: the variable name and its values.
func Axis(name string, values ...string) MatrixAxis {
	return MatrixAxis{Name: name, Values: slices.Clone(values)}
}

// Cell is one combination of matrix values, axis name to value.
type Cell map[string]string

// key renders the cell's values in axis order: "1.25, linux".
func (c Cell) key(axes []MatrixAxis) string {
	parts := make([]string, 0, len(axes))
	for _, a := range axes {
		parts = append(parts, c[a.Name])
	}
	return strings.Join(parts, ", ")
}

// Matrix runs a job once per cell: every combination of the axes' values,
// without the excluded ones, with the included ones. Each cell's values
// reach the Dagger function as arguments (FromMatrix). A job that needs a
// matrix job waits for all of its cells, on both CIs.
type Matrix struct {
	// Axes are the dimensions, in order: the first varies slowest.
	Axes []MatrixAxis
	// Include are cells added to the combinations; each names a value for
	// every axis.
	Include []Cell
	// Exclude removes the combinations that match every value a cell names
	// (it may name only some axes).
	Exclude []Cell
	// FailFast cancels the other cells when one fails (GitHub's default;
	// GitLab runs every cell, so it refuses it).
	FailFast bool
	// MaxParallel, when above zero, runs at most that many cells at a time
	// (GitHub only).
	MaxParallel int
}

// Cells returns the job's cells in order: the combinations of the axes
// (the first axis varies slowest) without the excluded ones, then the
// included ones.
func (m Matrix) Cells() []Cell {
	var out []Cell
	var walk func(i int, c Cell)
	walk = func(i int, c Cell) {
		if i == len(m.Axes) {
			for _, ex := range m.Exclude {
				// An exclusion naming no axis excludes nothing (New
				// refuses it).
				if len(ex) > 0 && ex.matches(c) {
					return
				}
			}
			out = append(out, maps.Clone(c))
			return
		}
		for _, v := range m.Axes[i].Values {
			c[m.Axes[i].Name] = v
			walk(i+1, c)
		}
		delete(c, m.Axes[i].Name)
	}
	if len(m.Axes) > 0 {
		walk(0, Cell{})
	}
	for _, in := range m.Include {
		out = append(out, maps.Clone(in))
	}
	return out
}

// Names returns the axis names in order.
func (m Matrix) Names() []string {
	out := make([]string, len(m.Axes))
	for i, a := range m.Axes {
		out[i] = a.Name
	}
	return out
}

// matches reports whether every value c names is the value of other.
func (c Cell) matches(other Cell) bool {
	for k, v := range c {
		if other[k] != v {
			return false
		}
	}
	return true
}

func (m Matrix) clone() Matrix {
	out := m
	out.Axes = make([]MatrixAxis, len(m.Axes))
	for i, a := range m.Axes {
		out.Axes[i] = Axis(a.Name, a.Values...)
	}
	out.Include = cloneCells(m.Include)
	out.Exclude = cloneCells(m.Exclude)
	return out
}

func cloneCells(cs []Cell) []Cell {
	if cs == nil {
		return nil
	}
	out := make([]Cell, len(cs))
	for i, c := range cs {
		out[i] = maps.Clone(c)
	}
	return out
}

// RunsMatrix runs the job once per combination of the axes' values: GitLab
// parallel:matrix, GitHub strategy.matrix.
func RunsMatrix(axes ...MatrixAxis) JobOption {
	return func(j *JobSpec) {
		if j.Matrix == nil {
			j.Matrix = &Matrix{}
		}
		for _, a := range axes {
			j.Matrix.Axes = append(j.Matrix.Axes, Axis(a.Name, a.Values...))
		}
	}
}

// MatrixInclude adds cells to the job's matrix, each naming a value for
// every axis.
func MatrixInclude(cells ...Cell) JobOption {
	return func(j *JobSpec) {
		if j.Matrix == nil {
			j.Matrix = &Matrix{}
		}
		j.Matrix.Include = append(j.Matrix.Include, cloneCells(cells)...)
	}
}

// MatrixExclude removes from the job's matrix the combinations that match
// every value one of cells names.
func MatrixExclude(cells ...Cell) JobOption {
	return func(j *JobSpec) {
		if j.Matrix == nil {
			j.Matrix = &Matrix{}
		}
		j.Matrix.Exclude = append(j.Matrix.Exclude, cloneCells(cells)...)
	}
}

// FailFast cancels a matrix job's other cells when one fails (GitHub
// only: GitLab runs every cell of a parallel:matrix job).
func FailFast() JobOption {
	return func(j *JobSpec) {
		if j.Matrix == nil {
			j.Matrix = &Matrix{}
		}
		j.Matrix.FailFast = true
	}
}

// MaxParallel runs at most n cells of the job's matrix at a time (GitHub
// only: GitLab starts every cell as runners allow).
func MaxParallel(n int) JobOption {
	return func(j *JobSpec) {
		if j.Matrix == nil {
			j.Matrix = &Matrix{}
		}
		j.Matrix.MaxParallel = n
	}
}

// FromMatrix returns a string argument whose value is the cell's value of
// the matrix axis called axis.
func FromMatrix(name, axis string) Arg { return Arg{Name: name, Kind: ArgString, Matrix: axis} }

// MaxMatrixCells is the most cells a matrix job may have: GitLab creates at
// most 200 jobs from one parallel:matrix (GitHub 256).
const MaxMatrixCells = 200

// matrixValueRE is what a matrix value may hold: it becomes part of a
// GitLab job name ("test: [1.25, linux]"), a YAML scalar and an
// environment variable's value that neither CI may expand, so no $, quotes,
// brackets, commas or braces.
var matrixValueRE = regexp.MustCompile(`^[A-Za-z0-9_.:/@+=~-]([A-Za-z0-9_.:/@+=~ -]*[A-Za-z0-9_.:/@+=~-])?$`)

// validateMatrix checks the job's matrix and the arguments that read it.
func (p *Pipeline) validateMatrix(j JobSpec, jp func(string, ...any)) {
	m := j.Matrix
	reads := matrixReads(j.Call)
	if m == nil {
		for _, axis := range reads {
			jp("argument reads the matrix value %s, but the job has no matrix; add pipeline.RunsMatrix(pipeline.Axis(%q, ...))", axis, axis)
		}
		return
	}
	if len(m.Axes) == 0 {
		jp("has matrix settings but no axes; add pipeline.RunsMatrix(pipeline.Axis(name, values...))")
		return
	}
	problems := 0
	jp0 := jp
	jp = func(format string, args ...any) { problems++; jp0(format, args...) }
	names := map[string]bool{}
	for _, a := range m.Axes {
		switch {
		case !envNameRE.MatchString(a.Name):
			jp("matrix axis %q: the name must hold only letters, digits and _ and not start with a digit", a.Name)
		case reservedPrefix(a.Name) != "":
			jp("matrix axis %q: names starting with %s are the CI's own; choose another name", a.Name, reservedPrefix(a.Name))
		case names[a.Name]:
			jp("matrix axis %q is declared twice", a.Name)
		}
		if _, clash := p.variables[a.Name]; clash {
			jp("matrix axis %q has the name of a pipeline variable; rename one", a.Name)
		}
		names[a.Name] = true
		if len(a.Values) == 0 {
			jp("matrix axis %q has no values", a.Name)
		}
		seen := map[string]bool{}
		for _, v := range a.Values {
			if !matrixValueRE.MatchString(v) {
				jp("matrix axis %s: value %q may hold only letters, digits, spaces and _.:/@+=~- (not at its ends)", a.Name, v)
			}
			if seen[v] {
				jp("matrix axis %s: value %q is listed twice", a.Name, v)
			}
			seen[v] = true
		}
	}
	axisList := strings.Join(m.Names(), ", ")
	product := (Matrix{Axes: m.Axes}).Cells()
	for _, ex := range m.Exclude {
		if len(ex) == 0 {
			jp("an excluded matrix cell names no axis")
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(ex)) {
			if !names[k] {
				jp("an excluded matrix cell names %q, which is not an axis (they are: %s)", k, axisList)
			}
		}
		if !slices.ContainsFunc(product, ex.matches) {
			jp("the excluded matrix cell %s matches no combination", cellString(ex))
		}
	}
	for _, in := range m.Include {
		if len(in) != len(m.Axes) || !hasAll(in, m.Names()) {
			jp("an included matrix cell must name a value for every axis (%s), not %s", axisList, cellString(in))
			continue
		}
		for _, v := range in {
			if !matrixValueRE.MatchString(v) {
				jp("an included matrix cell's value %q may hold only letters, digits, spaces and _.:/@+=~- (not at its ends)", v)
			}
		}
		switch {
		case slices.ContainsFunc(m.Exclude, func(ex Cell) bool { return len(ex) > 0 && ex.matches(in) }):
			jp("the included matrix cell %s is also excluded; drop one", cellString(in))
		case slices.ContainsFunc(product, func(c Cell) bool { return maps.Equal(c, in) }):
			jp("the included matrix cell %s is already a combination of the axes; drop it", cellString(in))
		}
	}
	cells := m.Cells()
	switch {
	case problems > 0:
		// The cells of a broken matrix say nothing more.
	case len(cells) == 0:
		jp("the matrix has no cells left after its exclusions")
	case len(cells) > MaxMatrixCells:
		jp("the matrix has %d cells; GitLab creates at most %d jobs from one parallel:matrix", len(cells), MaxMatrixCells)
	}
	if m.MaxParallel < 0 {
		jp("matrix max-parallel %d must not be negative", m.MaxParallel)
	}
	for _, axis := range reads {
		if !names[axis] {
			jp("argument reads the matrix value %s, which is not an axis (they are: %s)", axis, axisList)
		}
	}
	if len(j.OutputNames()) > 0 {
		jp("a matrix job cannot print an output: each of its cells would print one, and a later job would read one of them at random; move the output to a job without a matrix")
	}
}

func hasAll(c Cell, names []string) bool {
	for _, n := range names {
		if _, ok := c[n]; !ok {
			return false
		}
	}
	return true
}

// cellString renders a cell for messages, keys sorted: {GOOS: linux, GO: 1.25}.
func cellString(c Cell) string {
	parts := make([]string, 0, len(c))
	for _, k := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, k+": "+c[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// matrixReads returns the matrix axes the call's arguments read, in order.
func matrixReads(c Call) []string {
	var out []string
	for _, args := range append([][]Arg{c.Args}, c.chains()...) {
		for _, a := range args {
			if a.Matrix != "" && !slices.Contains(out, a.Matrix) {
				out = append(out, a.Matrix)
			}
		}
	}
	return out
}

// MatrixReads returns the matrix axes the call's arguments read, in order.
func (c Call) MatrixReads() []string { return matrixReads(c) }

// CellName returns the name GitLab gives the job of one cell of a
// parallel:matrix job: "test: [1.25, linux]", values in axis order.
func (m Matrix) CellName(job string, c Cell) string {
	return fmt.Sprintf("%s: [%s]", job, c.key(m.Axes))
}
