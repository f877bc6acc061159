//! `fragmp4-recover IN [OUT]`: finishes a fragmented or hybrid recording that a crash
//! left behind as an ordinary MP4, keeping every complete fragment.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let (input, output) = match args.as_slice() {
        [i] => (i, None),
        [i, o] => (i, Some(o.as_path())),
        _ => {
            eprintln!("usage: fragmp4-recover IN.mp4 [OUT.mp4]");
            eprintln!("Finishes a fragmented or hybrid recording (in place, or into OUT) as an");
            eprintln!("ordinary MP4: complete fragments are kept, a torn tail is dropped.");
            return ExitCode::from(2);
        }
    };
    match gstfragmp4::recover::recover_file(input, output) {
        Ok(r) if r.already_finished => {
            println!("{}: already a finished MP4", r.output.display());
            ExitCode::SUCCESS
        }
        Ok(r) => {
            let samples: Vec<String> = r
                .samples
                .iter()
                .map(|(track, n)| format!("track {track}: {n} samples"))
                .collect();
            println!(
                "{}: kept {} fragments ({}), dropped {} bytes of torn tail",
                r.output.display(),
                r.fragments,
                samples.join(", "),
                r.dropped
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fragmp4-recover: {}: {e}", input.display());
            ExitCode::FAILURE
        }
    }
}
