from qprof.cli import main

main()
