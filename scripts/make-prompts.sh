#!/usr/bin/env bash
# Regenerates the IVR prompts under ivr-flows/prompts/ from the wording in
# ivr-flows/prompts/prompts.tsv (name, English text, Mandarin text), with
# espeak-ng (speech) and sox (resampling to 8 kHz, 16-bit, mono — the format
# the prompt player reads; and the tones of `beep` and `hold-music`). Every
# row becomes en/NAME.wav (voice en-us) and zh/NAME.wav (voice
# cmn-latn-pinyin); WAVs of names no longer in the table are removed. The
# WAV files are committed, so this only needs to run when the table changes:
#   apt-get install -y espeak-ng sox && scripts/make-prompts.sh
#
# With names, only those rows are made (each must be in the table), and
# every other WAV is left as it is: for rows just added, without touching
# files that another espeak-ng or sox version would make differently:
#   scripts/make-prompts.sh survey-intro survey-score
#
# The output is byte-reproducible: espeak-ng is deterministic, and sox runs
# with -D (no dither; left on, sox dithers with a fresh random seed each run,
# and G.711 quantises far more coarsely than the dither would help anyway).
#
# Mandarin uses cmn-latn-pinyin, not cmn: espeak-ng's dictionary turns many
# characters into pinyin, which the plain cmn voice then reads as English
# ("您" came out as "nin two"); cmn-latn-pinyin reads that pinyin as Mandarin.
set -euo pipefail
cd "$(dirname "$0")/.."

prompts=ivr-flows/prompts
table=$prompts/prompts.tsv
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/en" "$work/zh"

# The format of every prompt: 8 kHz, mono, 16-bit signed PCM, no dither.
format=(-r 8000 -c 1 -b 16 -e signed-integer)

speak() { # speak VOICE TEXT OUT
    espeak-ng -v "$1" -s 150 -w "$work/raw.wav" "$2"
    # -G guards against clipping; trim silence at both ends so prompts
    # chain without gaps, then pad 100 ms so words do not run together.
    sox -D -G "$work/raw.wav" "${format[@]}" "$3" \
        silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0 0.1
}

beep() { # beep OUT: 400 ms at 1000 Hz, -6 dBFS, 5 ms ramps against clicks
    sox -D -n "${format[@]}" "$1" synth 0.4 sine 1000 vol 0.5 fade h 0.005 0.4 0.005
}

hold_music() { # hold_music OUT: a slow arpeggio, C Am F G, 8 s, -12 dBFS peak
    # F4 (349 Hz) to C6: all inside the 300-3400 Hz a phone line carries.
    local notes=(C5 E5 G5 C6 A4 C5 E5 A5 F4 A4 C5 F5 G4 B4 D5 G5) i=0 n
    for n in "${notes[@]}"; do
        # Each note: 0.5 s of sine, soft attack, long decay.
        sox -D -n "${format[@]}" "$work/note$((i++)).wav" \
            synth 0.5 sine "%$(semitones "$n")" fade q 0.02 0.5 0.45
    done
    local parts=()
    for ((n = 0; n < i; n++)); do parts+=("$work/note$n.wav"); done
    # Reverb smooths the joins; fade in and out so a looping player does
    # not click, then set the peak to -12 dBFS.
    sox -D "${parts[@]}" "${format[@]}" "$1" \
        reverb 40 50 60 fade q 0.05 8 1 norm -12
}

semitones() { # semitones NOTE: sox's %N notation counts semitones from A4
    local names=(C C# D D# E F F# G G# A A# B) name=${1%?} octave=${1: -1} k
    for k in "${!names[@]}"; do
        if [[ ${names[$k]} == "$name" ]]; then
            echo $((k - 9 + 12 * (octave - 4)))
            return
        fi
    done
    echo "unknown note $1" >&2
    return 1
}

# The names asked for on the command line (none: every row).
declare -A wanted=()
for name in "$@"; do
    if ! awk -F '\t' -v n="$name" '$1 == n { found = 1 } END { exit !found }' "$table"; then
        echo "$table: no row named $name" >&2
        exit 1
    fi
    wanted[$name]=1
done

declare -A seen=()
made=0
line=0
while IFS= read -r row || [[ -n $row ]]; do
    line=$((line + 1))
    [[ -z $row || $row == \#* ]] && continue
    IFS=$'\t' read -r name en zh extra <<<"$row"
    if [[ ! $name =~ ^[a-z0-9_-]+$ || -z ${en:-} || -z ${zh:-} || -n ${extra:-} ]]; then
        echo "$table:$line: expected NAME<TAB>English<TAB>Mandarin" >&2
        exit 1
    fi
    if [[ -n ${seen[$name]:-} ]]; then
        echo "$table:$line: $name is already on line ${seen[$name]}" >&2
        exit 1
    fi
    seen[$name]=$line
    if (($# > 0)) && [[ -z ${wanted[$name]:-} ]]; then
        continue
    fi
    made=$((made + 1))
    case $name in
    beep) beep "$work/en/$name.wav" ;;
    hold-music) hold_music "$work/en/$name.wav" ;;
    choose-language)
        # One bilingual file: each language's offer in its own voice.
        speak cmn-latn-pinyin "$zh" "$work/zh-part.wav"
        speak en-us "$en" "$work/en-part.wav"
        sox -D "$work/zh-part.wav" "$work/en-part.wav" "$work/en/$name.wav"
        ;;
    *)
        speak en-us "$en" "$work/en/$name.wav"
        speak cmn-latn-pinyin "$zh" "$work/zh/$name.wav"
        continue
        ;;
    esac
    # The non-speech and bilingual prompts are the same in both folders.
    cp "$work/en/$name.wav" "$work/zh/$name.wav"
done <"$table"

for lang in en zh; do
    mkdir -p "$prompts/$lang"
    if (($# == 0)); then
        rm -f "$prompts/$lang"/*.wav
    fi
    mv "$work/$lang"/*.wav "$prompts/$lang/"
done
echo "made $made prompts in $prompts/en and $prompts/zh"
