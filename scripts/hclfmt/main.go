// hclfmt: the layout check of `terraform fmt -check -recursive`, where Terraform itself
// is not at hand. Every .tf and .tfvars(.example) file under the directories given is
// parsed with HashiCorp's own HCL parser (hclsyntax, as Terraform parses it) and
// compared with hclwrite.Format's canonical layout, the formatter `terraform fmt` is
// built on (terraform fmt also rewrites a few legacy forms, such as "${x}" alone and
// quoted type names, which this does not look for).
// Prints each file that does not parse or is not formatted, with a diff-like listing
// of the first lines that differ, and exits 1; with -w, rewrites them instead.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

func main() {
	write := flag.Bool("w", false, "rewrite files that are not formatted")
	flag.Parse()
	bad, checked := 0, 0
	for _, root := range flag.Args() {
		err := filepath.WalkDir(root, func(path string, entry fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if entry.IsDir() && strings.HasPrefix(entry.Name(), ".terraform") {
				return filepath.SkipDir
			}
			if entry.IsDir() || !(strings.HasSuffix(path, ".tf") || strings.HasSuffix(path, ".tfvars") || strings.HasSuffix(path, ".tfvars.example") || strings.HasSuffix(path, ".hcl.example")) {
				return nil
			}
			checked++
			if !check(path, *write) {
				bad++
			}
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	if bad > 0 && !*write {
		fmt.Fprintf(os.Stderr, "%d of %d files are not laid out as terraform fmt lays them out (scripts/hclfmt -w fixes it)\n", bad, checked)
		os.Exit(1)
	}
	fmt.Printf("hclfmt: %d files parse and are laid out as terraform fmt lays them out\n", checked)
}

func check(path string, write bool) bool {
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return false
	}
	if _, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos); diags.HasErrors() {
		for _, diag := range diags {
			fmt.Fprintln(os.Stderr, diag.Error())
		}
		return false
	}
	formatted := hclwrite.Format(src)
	if bytes.Equal(src, formatted) {
		return true
	}
	if write {
		if err := os.WriteFile(path, formatted, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return false
		}
		fmt.Printf("formatted %s\n", path)
		return true
	}
	have, want := strings.Split(string(src), "\n"), strings.Split(string(formatted), "\n")
	shown := 0
	for i := 0; i < len(have) && i < len(want) && shown < 5; i++ {
		if have[i] != want[i] {
			fmt.Fprintf(os.Stderr, "%s:%d:\n  - %s\n  + %s\n", path, i+1, have[i], want[i])
			shown++
		}
	}
	if shown == 0 {
		fmt.Fprintf(os.Stderr, "%s: not formatted (line count differs)\n", path)
	}
	return false
}
