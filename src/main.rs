fn main() -> std::process::ExitCode {
    aspen::cli::main()
}
