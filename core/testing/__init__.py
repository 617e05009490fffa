"""Test support for vocfw and for plugin authors: synthetic corpus trees and contract checks."""
