//! Adding and editing a machine, and taking it out of service (maintenance, broken, retired,
//! with the reason recorded) or back in. A machine in a loan changes state when the loan is over.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::admin::{get_machine, SaveMachine, SetMachineState};
use crate::components::badges::MachineBadge;
use crate::components::browser;
use crate::components::fields::{form_error, SelectField, TextArea, TextField};
use crate::components::notice::{ErrorNotice, FieldMessage};
use crate::pages::admin::machine_actions::MachineActionsPanel;
use crate::types::{MachineEdit, MachineId, MachineState};

#[component]
pub fn MachineEditPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|id| id.parse::<MachineId>().ok())
            .unwrap_or(MachineId(0))
    };
    let id = id();
    view! {
        <Title text="Machine" />
        <p class="crumbs"><a href="/admin/machines">"Machines"</a>" / "{if id.0 == 0 { "new".to_owned() } else { format!("#{id}") }}</p>
        <MachineEditor id />
    }
}

/// The form and the machine's actions hydrate on their own (an island). `id` is 0 for a new
/// machine.
#[cfg_attr(any(feature = "ssr", feature = "inventory-bundle"), island)]
#[cfg_attr(not(any(feature = "ssr", feature = "inventory-bundle")), component)]
fn MachineEditor(id: MachineId) -> impl IntoView {
    let set_state = ServerAction::<SetMachineState>::new();
    let machine = Resource::new(
        move || (id, set_state.version().get()),
        |(id, _)| get_machine(id),
    );
    // The actions panel is built here, in the island's body, not under the form's `Transition`:
    // a resource created while an island renders later is not sent with the page, and the
    // browser would then find a different page from the one the server sent.
    let panel = (id.0 != 0).then(|| view! { <MachineActionsPanel id /> });
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || machine.get().map(|result| match result {
                Ok(machine) => view! { <MachineForm machine set_state /> }.into_any(),
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
        {panel}
    }
}

#[component]
fn MachineForm(machine: MachineEdit, set_state: ServerAction<SetMachineState>) -> impl IntoView {
    let save = ServerAction::<SaveMachine>::new();
    let error = Signal::derive(move || save.value().get().and_then(Result::err));
    let state_error = Signal::derive(move || set_state.value().get().and_then(Result::err));
    let was_new = machine.id.is_none();
    Effect::new(move |_| {
        if let Some(Ok(id)) = save.value().get() {
            // A new machine gets its own page; an edited one stays where it is.
            if was_new {
                browser::go(&format!("/admin/machines/{id}"));
            }
        }
    });
    let id = machine.id.map_or(0, |id| id.0);
    let pools = machine.pools.clone();
    let state_options = [
        MachineState::Available,
        MachineState::Maintenance,
        MachineState::Broken,
        MachineState::Retired,
    ]
    .iter()
    .map(|s| (s.as_str().to_owned(), s.label().to_owned()))
    .collect::<Vec<_>>();
    view! {
        <div class="page-head">
            <h1>{if id == 0 { "New machine".to_owned() } else { machine.fqdn.clone() }}
                {(id != 0).then(|| view! { <MachineBadge state=machine.state /> })}</h1>
        </div>
        {machine.state_reason.clone().map(|r| view! { <p class="reason-note">{r}</p> })}
        {(id != 0).then(|| view! {
            <dl class="machine-facts">
                <div><dt>"Image"</dt><dd>{machine.current_image.clone().unwrap_or_else(|| "unknown".into())}</dd></div>
                <div><dt>"Last health check"</dt><dd data-testid="health">{match (machine.last_health_check_at, machine.health_note.clone()) {
                    (Some(at), Some(note)) => format!("{} — {}", crate::format::when(at), note.lines().next().unwrap_or_default()),
                    (Some(at), None) => crate::format::when(at),
                    _ => "not yet (checks run every few minutes on available machines with ipmi, snmp_pdu, aws_ec2 or ssh settings)".into(),
                }}</dd></div>
            </dl>
        })}
        {machine.hold_state.map(|h| view! {
            <div class="notice notice-warn"><p>{format!("In a loan now: it goes to {} when the loan's clean-up is done.", h.label().to_ascii_lowercase())}</p></div>
        })}
        <div class="two-col">
            <section class="card">
                <h2>"Machine"</h2>
                <ActionForm action=save>
                    <input type="hidden" name="id" value=id />
                    <TextField name="fqdn" label="Host name (FQDN)" value=machine.fqdn.clone() error placeholder="build-07.pool.example.com".to_owned() />
                    <SelectField name="pool" label="Pool" value=machine.pool.clone() options=pools error />
                    <TextArea name="driver_settings" label="Driver settings (JSON; references to credentials, never secrets)" value=machine.driver_settings.clone() error rows=5 mono=true
                        hint=r#"Per driver, over the pool's: {"ipmi": {"host": "bmc-07.example.com"}}, {"snmp_pdu": {"outlet": 7}}, {"aws_ec2": {"instance_id": "i-0abc"}}; credentials by name only. For the command driver, {"env": {"SITE_BMC_HOST": "bmc-07"}} becomes variables of its scripts."#.to_owned() />
                    <TextArea name="notes" label="Notes" value=machine.notes.clone() error rows=2 />
                    {move || form_error(error.get())}
                    <button type="submit" class="button" data-testid="save-machine">{if id == 0 { "Add machine" } else { "Save machine" }}</button>
                </ActionForm>
            </section>
            {(id != 0).then(|| view! {
                <aside class="card side">
                    <h2>"Service"</h2>
                    <ActionForm action=set_state>
                        <input type="hidden" name="id" value=id />
                        <SelectField name="state" label="State" value=machine.state.as_str().to_owned() options=state_options error=state_error />
                        <label class="field">
                            <span>"Reason " <em class="opt">"required unless available"</em></span>
                            <input type="text" name="reason" placeholder="Fan noise; vendor ticket 4711" />
                            <FieldMessage error=state_error field="reason" />
                        </label>
                        <button type="submit" class="button button-secondary" data-testid="set-state">"Change state"</button>
                    </ActionForm>
                </aside>
            })}
        </div>
    }
}
