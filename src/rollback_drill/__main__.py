from rollback_drill.cli import main

main()
