// Package chart draws time series: sparklines for the terminal and line
// charts as SVG or PNG files, with no dependencies beyond x/image's font.
//
// It imports no package of this module.
package chart
