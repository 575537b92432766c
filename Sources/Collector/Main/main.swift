// perfring-collector: thin entry point over the Collector library.
import Collector
import Glibc
import Shared

Log.program = "perfring-collector"
Glibc.exit(collectorMain(Array(CommandLine.arguments.dropFirst())))
