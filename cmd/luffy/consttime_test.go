package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// secretName matches identifiers that hold secrets or values derived from them.
var secretName = regexp.MustCompile(`(?i)(secret|signature|^sig$|^mac$|hmac|password|passwd|tokenhash|purgekey)`)

// TestSecretsComparedInConstantTime reads every non-test Go file of the module and fails
// on a comparison (==, !=, bytes.Equal, strings.EqualFold, strings.Compare) whose operand
// is named like a secret: those must use hmac.Equal or subtle.ConstantTimeCompare, or a
// timing side channel tells an attacker how much of a guess was right.
func TestSecretsComparedInConstantTime(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files, found := 0, 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files++
		ast.Inspect(f, func(n ast.Node) bool {
			var operands []ast.Expr
			switch x := n.(type) {
			case *ast.BinaryExpr:
				if x.Op == token.EQL || x.Op == token.NEQ {
					operands = []ast.Expr{x.X, x.Y}
				}
			case *ast.CallExpr:
				if sel, ok := x.Fun.(*ast.SelectorExpr); ok {
					if pkg, ok := sel.X.(*ast.Ident); ok && ((pkg.Name == "bytes" && sel.Sel.Name == "Equal") ||
						(pkg.Name == "strings" && (sel.Sel.Name == "EqualFold" || sel.Sel.Name == "Compare"))) {
						operands = x.Args
					}
				}
			}
			for _, op := range operands {
				if name := lastName(op); name != "" && secretName.MatchString(name) && !isEmptyCheck(n) {
					found++
					t.Errorf("%s: %s compared with a variable-time operation; use hmac.Equal or subtle.ConstantTimeCompare",
						fset.Position(n.Pos()), name)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("read only %d Go files under %s", files, root)
	}
	t.Logf("%d Go files read, %d variable-time secret comparisons", files, found)
}

// lastName is the identifier an operand ends in: x, s.cfg.Secret → Secret, f() → f.
func lastName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return x.Sel.Name
	case *ast.CallExpr:
		return lastName(x.Fun)
	case *ast.IndexExpr:
		return lastName(x.X)
	}
	return ""
}

// isEmptyCheck reports a comparison with "" or nil or 0: whether a secret is set, which
// reveals nothing about it.
func isEmptyCheck(n ast.Node) bool {
	b, ok := n.(*ast.BinaryExpr)
	if !ok {
		return false
	}
	for _, side := range []ast.Expr{b.X, b.Y} {
		switch v := side.(type) {
		case *ast.BasicLit:
			if v.Value == `""` || v.Value == "0" {
				return true
			}
		case *ast.Ident:
			if v.Name == "nil" {
				return true
			}
		}
	}
	return false
}
