//! The `scangate` command: parse the CLI, set up logging, load the config, hand over to the
//! library. Exit codes: 0 ok, 64 usage and config errors (EX_USAGE), 1 startup failures;
//! `scangate users` documents its own (`cli_users.rs`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

// Measured +15–25 % throughput on the proxied path (pingora-notes.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read by jemalloc itself at its first allocation (a C `const char *`
/// named `malloc_conf`, with tikv-jemalloc-sys's `_rjem_` prefix).
///
/// `background_thread:true`: freed memory is returned to the OS by jemalloc's own thread
/// after its decay time (10 s), also while the gateway is idle. Without it purging only
/// happens on later allocations, so an idle gateway kept the ~270 MiB that 10,000 closed
/// connections had used (`cargo bench --bench capacity`).
// `unsafe_code` is denied crate-wide; this symbol is the one exception. Why it is sound: it
// exports a pointer to a NUL-terminated, immutable, 'static byte string, which is exactly the
// `const char *` jemalloc reads; nothing in Rust reads or writes it.
#[allow(unsafe_code, non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8; 23] = b"background_thread:true\0";

const EXIT_CONFIG: u8 = 64;

#[derive(Parser)]
#[command(
    name = "scangate",
    version,
    about = "WeChat QR login gateway in front of your web apps"
)]
struct Cli {
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway in the foreground.
    Run {
        #[arg(long, short, default_value = "conf/scangate.yaml")]
        config: PathBuf,
    },
    /// Validate a config file: print every problem as `path: message`, exit 0 or 64.
    Check {
        #[arg(long, short, default_value = "conf/scangate.yaml")]
        config: PathBuf,
    },
    /// Find, inspect, revoke, block or erase users (the store the config names).
    Users {
        #[arg(long, short, default_value = "conf/scangate.yaml", global = true)]
        config: PathBuf,
        #[command(subcommand)]
        command: scangate::cli_users::UsersCommand,
    },
    /// Operate the WeChat Official Account the gateway owns.
    Wechat {
        #[command(subcommand)]
        command: WechatCommand,
    },
    /// Exit 0 when the admin listener's `/healthz` answers 200 within 2 s, else 1: a
    /// container `HEALTHCHECK` that needs no curl in the image.
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:9100/healthz")]
        url: String,
    },
    /// Try the configured SMS provider.
    Sms {
        #[command(subcommand)]
        command: SmsCommand,
    },
    /// Everything on one machine, nothing to configure: the gateway on
    /// http://127.0.0.1:8080 with a demo app behind it.
    Demo {
        /// Where the demo keeps its data (store, keys).
        #[arg(long, default_value = "data/demo")]
        data_dir: PathBuf,
        /// Public listener of the demo gateway.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Admin listener (/metrics, /healthz, /readyz) of the demo gateway.
        #[arg(long, default_value = "127.0.0.1:9100")]
        admin_listen: std::net::SocketAddr,
    },
}

#[derive(Subcommand)]
enum WechatCommand {
    /// Ask WeChat for an access token with the configured AppID and AppSecret; explain
    /// any refusal in plain words (wrong AppID, wrong AppSecret, IP not whitelisted).
    Check {
        #[arg(long, short, default_value = "conf/scangate.yaml")]
        config: PathBuf,
    },
    /// The account's custom menu.
    Menu {
        #[command(subcommand)]
        command: MenuCommand,
    },
}

#[derive(Subcommand)]
enum SmsCommand {
    /// Send one test code to PHONE through login.sms's provider and print its answer in
    /// plain words: exit 0 sent, 1 refused or unreachable, 64 a config or number problem.
    Test {
        #[arg(long, short, default_value = "conf/scangate.yaml")]
        config: PathBuf,
        /// The number to text: +CC... or a Chinese mobile number.
        #[arg(long)]
        phone: String,
    },
}

#[derive(Subcommand)]
enum MenuCommand {
    /// Validate MENU.yaml and make it the account's menu.
    Push {
        #[arg(long, short, default_value = "conf/scangate.yaml")]
        config: PathBuf,
        #[arg(long)]
        menu: PathBuf,
    },
    /// Print the menu WeChat currently serves.
    Show {
        #[arg(long, short, default_value = "conf/scangate.yaml")]
        config: PathBuf,
    },
}

/// Loads a config or prints every problem; `Err` carries the exit code.
fn load_config(path: &std::path::Path) -> Result<scangate::config::Config, ExitCode> {
    scangate::config::load(path).map_err(|errors| {
        eprintln!("{}: {} problem(s)", path.display(), errors.0.len());
        for issue in &errors.0 {
            eprintln!("  {issue}");
        }
        ExitCode::from(EXIT_CONFIG)
    })
}

/// Writes the buffered log lines when `main` returns.
struct WriteLogAtExit;

impl Drop for WriteLogAtExit {
    fn drop(&mut self) {
        scangate::log_sink::shutdown();
    }
}

/// Where a command's log lines go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LogTo {
    /// Written where they are made (short commands).
    Stdout,
    /// Kept off stdout, which carries the command's own output (`scangate users ... --json`).
    Stderr,
    /// Through a writer thread (`run`, `demo`): the access log never writes on a pingora
    /// worker. What is pending is written at the end of `main` ([`WriteLogAtExit`]).
    Buffered,
}

fn init_logging(format: LogFormat, to: LogTo) {
    use tracing_subscriber::EnvFilter;
    // pingora logs through `log`; bridge it into tracing, with the records of clients' own
    // faults lowered to DEBUG. Its debug and trace records are dropped where they are made:
    // they would otherwise reach tracing's filter on every request.
    let _ = scangate::proxy::log_bridge::init(tracing_log::log::LevelFilter::Info);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only for a terminal: in a file or a log collector they are noise, and
    // writing them costs time on every line.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi && to == LogTo::Stdout);
    let json = format == LogFormat::Json;
    let sink = match to {
        LogTo::Buffered => match scangate::log_sink::start_global(std::io::stdout()) {
            Ok(sink) => Some(sink),
            Err(e) => {
                eprintln!("scangate: no log writer thread ({e}); writing log lines directly");
                None
            }
        },
        _ => None,
    };
    let _ = match (&sink, to, json) {
        (Some(sink), _, _) => {
            scangate::access_log::set_shape(if json {
                scangate::access_log::Shape::Json
            } else {
                scangate::access_log::Shape::Text
            });
            let writer = scangate::log_sink::MakeSinkWriter(sink.clone());
            let builder = builder.with_ansi(false).with_writer(writer);
            if json {
                builder.json().flatten_event(true).try_init()
            } else {
                builder.try_init()
            }
        }
        (None, LogTo::Stderr, false) => builder.with_writer(std::io::stderr).try_init(),
        (None, LogTo::Stderr, true) => builder
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .try_init(),
        (None, _, false) => builder.try_init(),
        (None, _, true) => builder.json().flatten_event(true).try_init(),
    };
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Usage errors exit 64 (EX_USAGE) like config errors; --help and --version exit 0.
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_CONFIG)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let log_to = match cli.command {
        Command::Users { .. } => LogTo::Stderr,
        Command::Run { .. } | Command::Demo { .. } => LogTo::Buffered,
        _ => LogTo::Stdout,
    };
    init_logging(cli.log_format, log_to);
    let _write_log_at_exit = WriteLogAtExit;
    match cli.command {
        Command::Check { config } => match load_config(&config) {
            Ok(cfg) => {
                println!("{}: {}", config.display(), scangate::config::summary(&cfg));
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Run { config } => {
            let cfg = match load_config(&config) {
                Ok(cfg) => cfg,
                Err(code) => return code,
            };
            match scangate::server::run(cfg, Some(config.clone())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("scangate: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Users { config, command } => match load_config(&config) {
            Ok(cfg) => ExitCode::from(scangate::cli_users::run(&cfg, command)),
            Err(code) => code,
        },
        Command::Wechat { command } => {
            let (config, run): (&PathBuf, fn(&scangate::config::Config) -> u8) = match &command {
                WechatCommand::Check { config } => (config, scangate::cli::wechat::check),
                WechatCommand::Menu {
                    command: MenuCommand::Show { config },
                } => (config, scangate::cli::wechat::menu_show),
                WechatCommand::Menu {
                    command: MenuCommand::Push { config, menu },
                } => {
                    return match load_config(config) {
                        Ok(cfg) => ExitCode::from(scangate::cli::wechat::menu_push(&cfg, menu)),
                        Err(code) => code,
                    }
                }
            };
            match load_config(config) {
                Ok(cfg) => ExitCode::from(run(&cfg)),
                Err(code) => code,
            }
        }
        Command::Healthcheck { url } => healthcheck(&url),
        Command::Sms {
            command: SmsCommand::Test { config, phone },
        } => match load_config(&config) {
            Ok(cfg) => ExitCode::from(scangate::cli::sms::test(&cfg, &phone)),
            Err(code) => code,
        },
        Command::Demo {
            data_dir,
            listen,
            admin_listen,
        } => match run_demo(&data_dir, listen, admin_listen) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("scangate demo: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn healthcheck(url: &str) -> ExitCode {
    let answer = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| {
            runtime.block_on(async {
                let client = reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(2))
                    .build()
                    .map_err(|e| e.to_string())?;
                let response = client.get(url).send().await.map_err(|e| e.to_string())?;
                Ok(response.status().as_u16())
            })
        });
    match answer {
        Ok(200) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("scangate healthcheck: {url} answered {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("scangate healthcheck: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "demo")]
fn run_demo(
    data_dir: &std::path::Path,
    listen: std::net::SocketAddr,
    admin_listen: std::net::SocketAddr,
) -> Result<(), String> {
    scangate::demo::run(data_dir, listen, admin_listen)
}

/// A build without the `demo` feature has no demo: say so, and how to get one.
#[cfg(not(feature = "demo"))]
fn run_demo(
    _data_dir: &std::path::Path,
    _listen: std::net::SocketAddr,
    _admin_listen: std::net::SocketAddr,
) -> Result<(), String> {
    Err(
        "this scangate was built without the `demo` feature, so it has no demo \
         (build with the default features: cargo build --release)"
            .to_string(),
    )
}
