from drillkit._entry import main

main()
