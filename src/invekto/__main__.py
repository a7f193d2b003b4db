from invekto.cli import main

main()
