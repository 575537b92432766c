// perfring-server: thin entry point over the Server library.
import Glibc
import Server
import Shared

Log.program = "perfring-server"
Glibc.exit(serverMain(Array(CommandLine.arguments.dropFirst())))
