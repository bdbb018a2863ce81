//! The simulated call every agent records: answered at 0.5 s, the record key at 1 s, the pause
//! key at 1/3 and at 5/12 of the call (pause, resume), a `status` step 2 s before the end (the
//! point "while recording"), the record key (stop) 1 s before it, the hang-up at the end;
//! as a `callrec-sim run` script.

/// The point "while recording", in seconds into the call.
pub fn status_at(seconds: f64) -> f64 {
    seconds - 2.0
}

/// `x` rounded to one decimal.
fn tenths(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The script of a call of `seconds`.
pub fn call_script(seconds: f64) -> String {
    let (pause, resume) = (tenths(seconds / 3.0), tenths(seconds * 5.0 / 12.0));
    format!(
        "0.000 call started id=c1 dir=in remote=1002 codec=PCMA\n\
         0.500 call answered id=c1\n\
         1.000 key record\n\
         {pause:.3} key pause\n\
         {resume:.3} key pause\n\
         {:.3} status\n\
         {:.3} key record\n\
         {seconds:.3} call ended id=c1\n",
        status_at(seconds),
        seconds - 1.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_call_pauses_at_a_third_resumes_at_five_twelfths_and_asks_for_status_before_the_end() {
        assert_eq!(
            call_script(10.0),
            "0.000 call started id=c1 dir=in remote=1002 codec=PCMA\n\
             0.500 call answered id=c1\n\
             1.000 key record\n\
             3.300 key pause\n\
             4.200 key pause\n\
             8.000 status\n\
             9.000 key record\n\
             10.000 call ended id=c1\n"
        );
        assert!(call_script(60.0).contains("\n20.000 key pause\n25.000 key pause\n58.000 status\n"));
    }
}
