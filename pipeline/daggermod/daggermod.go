// Package daggermod reads the functions of a Dagger Go module from its
// source, without an engine: the exported methods of the module's main
// object, with their arguments as `dagger call` spells them.
//
// Pipelines use it to check, before any CI file is written, that every job
// calls a function the module has, with arguments it takes:
//
//	mod, err := daggermod.Parse("ci", "Slipway")
//	...
//	p, err := pipeline.New("svc", pipeline.Functions(mod.Signatures()...), ...)
package daggermod

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/slipway-ci/slipway/pipeline"
)

// Module is what Parse found.
type Module struct {
	// Object is the main object's Go type name.
	Object string
	// Functions are the object's exported methods, sorted by name.
	Functions []Function
	// Constructor is the module's New function, whose arguments are the
	// module's settings (nil when it has none).
	Constructor *Function
}

// Function is one Dagger function.
type Function struct {
	// Name is the kebab-case name `dagger call` uses.
	Name string
	// GoName is the method's Go name.
	GoName string
	// Doc is the method's doc comment, which Dagger shows as its help.
	Doc string
	// Args are the arguments, without the context.
	Args []Arg
}

// Arg is one argument of a Function.
type Arg struct {
	// Name is the kebab-case flag name.
	Name string
	// GoName is the parameter's name in the source, which is also the
	// name Dagger's API and dagger.json's toolchain customizations use
	// (lower camel case, such as stagingManifests).
	GoName string
	// Type is the Go type as written in the source, such as "*dagger.Directory".
	Type string
	// Optional is true for pointer-free "+optional" or "+default" arguments.
	Optional bool
	// Default is the "+default=" value, if any.
	Default string
}

// Signatures returns the functions in the form pipeline.Functions takes.
func (m *Module) Signatures() []pipeline.Signature {
	out := make([]pipeline.Signature, 0, len(m.Functions))
	for _, f := range m.Functions {
		s := pipeline.Signature{Name: f.Name}
		for _, a := range f.Args {
			s.Args = append(s.Args, a.Name)
		}
		out = append(out, s)
	}
	return out
}

// Function returns the function called name (kebab-case).
func (m *Module) Function(name string) (Function, bool) {
	for _, f := range m.Functions {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

// Parse reads the Go files in dir (not its tests, not generated bindings)
// and returns the exported methods of the type named object.
func Parse(dir, object string) (*Module, error) {
	mod, err := ParseFS(os.DirFS(dir), object)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, dir)
	}
	return mod, nil
}

// ParseFS is Parse on the top directory of fsys. A module can embed its own
// source (//go:embed *.go) and check its pipeline against itself wherever it
// runs, inside an engine included.
func ParseFS(fsys fs.FS, object string) (*Module, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("daggermod: reading module source: %w", err)
	}
	fset := token.NewFileSet()
	mod := &Module{Object: object}
	found := false
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") || name == "dagger.gen.go" {
			continue
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("daggermod: %w", err)
		}
		file, err := parser.ParseFile(fset, name, src, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("daggermod: %w", err)
		}
		for _, decl := range file.Decls {
			switch d := decl.(type) {
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					if ts, ok := spec.(*ast.TypeSpec); ok && ts.Name.Name == object {
						found = true
					}
				}
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.Name == "New" {
					c := function(fset, file.Comments, d)
					mod.Constructor = &c
					continue
				}
				if d.Recv == nil || !d.Name.IsExported() || receiverName(d.Recv) != object {
					continue
				}
				mod.Functions = append(mod.Functions, function(fset, file.Comments, d))
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("daggermod: no type %s; the main object's name is the module name in PascalCase", object)
	}
	slices.SortFunc(mod.Functions, func(a, b Function) int { return strings.Compare(a.Name, b.Name) })
	return mod, nil
}

func receiverName(recv *ast.FieldList) string {
	if len(recv.List) == 0 {
		return ""
	}
	t := recv.List[0].Type
	if star, ok := t.(*ast.StarExpr); ok {
		t = star.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

func function(fset *token.FileSet, comments []*ast.CommentGroup, d *ast.FuncDecl) Function {
	f := Function{Name: pipeline.Kebab(d.Name.Name), GoName: d.Name.Name, Doc: strings.TrimSpace(d.Doc.Text())}
	prevEnd := d.Type.Params.Opening
	for _, field := range d.Type.Params.List {
		groups := fieldComments(fset, comments, prevEnd, field)
		prevEnd = field.End()
		typ := types(field.Type)
		if typ == "context.Context" {
			continue
		}
		optional, def := pragmas(groups)
		for _, n := range field.Names {
			f.Args = append(f.Args, Arg{Name: pipeline.Kebab(n.Name), GoName: n.Name, Type: typ, Optional: optional || def != "", Default: def})
		}
	}
	return f
}

// fieldComments returns the comments that belong to a parameter: those
// between the previous parameter and it, and those after it on its line. The
// parser attaches no comments to parameters, so positions decide.
func fieldComments(fset *token.FileSet, comments []*ast.CommentGroup, prevEnd token.Pos, field *ast.Field) []*ast.CommentGroup {
	var out []*ast.CommentGroup
	line := fset.Position(field.End()).Line
	for _, g := range comments {
		switch {
		case g.Pos() > prevEnd && g.End() < field.Pos():
			out = append(out, g)
		case g.Pos() > field.End() && fset.Position(g.Pos()).Line == line:
			out = append(out, g)
		}
	}
	return out
}

// pragmas reads Dagger's "+optional" and "+default=" comments, which may
// sit above the parameter or after it on the same line.
func pragmas(groups []*ast.CommentGroup) (optional bool, def string) {
	for _, g := range groups {
		for _, c := range g.List {
			text := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(c.Text, "//"), "/*"))
			text = strings.TrimSpace(strings.TrimSuffix(text, "*/"))
			switch {
			case text == "+optional":
				optional = true
			case strings.HasPrefix(text, "+default="):
				def = strings.Trim(strings.TrimPrefix(text, "+default="), `"`)
			}
		}
	}
	return optional, def
}

func types(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.StarExpr:
		return "*" + types(t.X)
	case *ast.SelectorExpr:
		return types(t.X) + "." + t.Sel.Name
	case *ast.ArrayType:
		return "[]" + types(t.Elt)
	}
	return fmt.Sprintf("%T", e)
}
